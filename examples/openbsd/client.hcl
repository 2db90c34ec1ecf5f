# Nomad client on an OpenBSD edge node (Nomad runs as root: privileged ports, ifconfig).
# carp1 carries the FailOver IP and is in its own interface group `edge`, so our demotion
# never mixes with /etc/rc's boot-time demotion of the group `carp`:
#   ifconfig carp1 group edge
data_dir   = "/var/nomad"
plugin_dir = "/usr/local/libexec/nomad/plugins"

client {
  enabled = true
}

plugin "carp_exec" {
  config {
    state_dir = "/var/db/carp_exec"
    log_level = "info"

    failover {
      backend         = "openbsd-carp"
      group           = "edge"
      interfaces      = ["carp1"]
      demote_by       = 50
      vip             = ["192.0.2.10"]
      confirm_timeout = "10s"
      poll_interval   = "50ms"
      # CARP moves the address within a packet round trip; a provider-routed FailOver IP
      # (moved through the hosting provider's API) needs its own proof and time:
      # confirm_command = ["/usr/local/bin/failover-ip-points-here", "--not", "192.0.2.10"]
      # settle          = "2s"
      ifconfig_path = "/sbin/ifconfig"
    }
  }
}
