# traefik on both edge nodes, run by carp_exec instead of raw_exec + a demote/sleep wrapper.
# On stop or update, carp_exec's StopTask demotes this node, waits until the FailOver IP has
# really moved to the peer, then signals traefik; the node stays demoted until the replacement
# answers /ping. No wrapper, and kill_timeout is traefik's own grace period again.
job "traefik" {
  datacenters = ["edge"]
  type        = "system"

  update {
    max_parallel = 1
    stagger      = "30s"
  }

  group "traefik" {
    task "traefik" {
      driver = "carp_exec"

      config {
        command = "/usr/local/bin/traefik"
        args = [
          "--configfile=${NOMAD_TASK_DIR}/traefik.yml",
        ]
        # This task carries the FailOver IP: hand it over before stopping it.
        failover = true
        # When a (replacement) traefik is serving; until then the node stays demoted.
        ready {
          http     = "http://127.0.0.1:8082/ping"
          interval = "250ms"
          timeout  = "60s"
        }
      }

      # traefik drains its connections on SIGTERM; the hand-over has its own bound
      # (confirm_timeout in the plugin config) and does not eat into this.
      kill_signal  = "SIGTERM"
      kill_timeout = "10s"

      env {
        # The DNS-01 challenge key stays in a root-only host file, out of the job spec.
        CF_DNS_API_TOKEN_FILE = "/etc/traefik/cloudflare-token"
      }

      template {
        destination = "local/traefik.yml"
        # SIGHUP terminates traefik v2 (and v3 without a file provider): restart instead.
        change_mode = "restart"
        data        = <<-YAML
          entryPoints:
            web:       { address: ":80" }
            websecure: { address: ":443" }
            ping:      { address: "127.0.0.1:8082" }
          ping:
            entryPoint: ping
          providers:
            file:
              directory: /etc/traefik/dynamic
              watch: true
          certificatesResolvers:
            le:
              acme:
                # Outside the alloc dir, so certificates survive reschedules and updates.
                storage: /var/db/traefik/acme.json
                dnsChallenge:
                  provider: cloudflare
          YAML
      }

      resources {
        cpu    = 500
        memory = 256
      }
    }
  }
}
