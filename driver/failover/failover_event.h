#pragma once
// What the failover code tells the outside world. Every phase change of a hand-over (and every
// node-level decision such as "demoted at plugin start") becomes one FailoverEvent; the service
// adapter turns it into a Nomad task event and writes it as a log line (the failover code does
// not log events itself, so each appears once in the log).

#include <map>
#include <string>

namespace carp_exec::failover {

// The Nomad task an event or a call is about. Node-level events (plugin start, reconcile) carry
// an empty TaskRef; the adapter logs those but has no task to attach them to.
struct TaskRef {
  std::string task_id;  // the driver's task id (alloc_id/task_name/random)
  std::string alloc_id;
  std::string task_name;

  bool empty() const { return task_id.empty(); }
};

struct FailoverEvent {
  TaskRef task;
  // One sentence for `nomad alloc status`, e.g.
  // "demoted group carp by 50 (demote count 0 → 50)".
  std::string message;
  // Machine-readable details: "phase" (idle|demoting|confirming|signalled|exited|held|restored
  // or "node"), "backend", "share", "demote_count_before"/"demote_count_after", "state",
  // "waited_ms", ... Values are strings because Nomad's event annotations are.
  std::map<std::string, std::string> annotations;
};

// Receives events. Called from the coordinator's worker thread, never with a coordinator lock
// held; implementations must not block for long and must not call back into the coordinator
// synchronously (posting work to it is fine).
class EventSink {
 public:
  virtual ~EventSink() = default;
  virtual void Emit(const FailoverEvent& event) = 0;
};

}  // namespace carp_exec::failover
