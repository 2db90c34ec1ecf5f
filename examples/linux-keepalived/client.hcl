# Nomad client on a Linux edge node where keepalived (VRRP) holds the FailOver IP.
# keepalived.conf beside this file tracks /etc/keepalived/carp_exec.demote with weight -1:
# carp_exec writes its demotion there and keepalived lowers the priority by that much; then it
# sends one priority-0 advertisement so the peer takes over at once (handover = "resign"; the
# plugin runs as root: raw and packet sockets).
data_dir   = "/var/lib/nomad"
plugin_dir = "/usr/local/libexec/nomad/plugins"

client {
  enabled = true
}

plugin "carp_exec" {
  config {
    state_dir = "/var/lib/carp_exec"

    failover {
      backend         = "keepalived"
      track_file      = "/etc/keepalived/carp_exec.demote"
      state_file      = "/run/keepalived/VI_EDGE.state"
      interfaces      = ["eth0"]
      # 253 (the default) leaves this node advertising priority 1, below any peer: what
      # handover = "resign" needs. 254 would put keepalived in FAULT (VIP dropped at once).
      demote_by       = 253
      vip             = ["192.0.2.10"]
      # "resign" (the default): after the demotion, re-send this node's own latest VRRP
      # advertisement with priority 0; the peer takes over after its skew time,
      # (256 - 100)/256 × advert_int = 0.61 s here, while this node keeps the VIP until the
      # peer's first advertisement. "weighted": the demotion alone; the peer waits out its
      # Master_Down timer (about 3.6 × advert_int). `vrid` is only needed when this node
      # advertises several virtual routers and none lists a `vip`.
      handover        = "resign"
      # vrid          = 51
      confirm_timeout = "10s"
      poll_interval   = "50ms"
      ip_path         = "/sbin/ip"
    }
  }
}
