# Nomad client on a Linux edge node where keepalived (VRRP) holds the FailOver IP.
# keepalived.conf beside this file tracks /etc/keepalived/carp_exec.demote with weight -1:
# carp_exec writes its demotion there and keepalived lowers the priority by that much.
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
      demote_by       = 100
      vip             = ["192.0.2.10"]
      # keepalived moves the VIP after the peer's master-down interval (about 3.6 × advert_int).
      confirm_timeout = "10s"
      poll_interval   = "50ms"
      ip_path         = "/sbin/ip"
    }
  }
}
