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

// The ref of a task known only by its id. Nomad builds task ids as "<alloc id>/<task name>/
// <8 random chars>" (client/allocrunner/taskrunner/task_runner.go, buildTaskConfig), and routes
// a driver event by alloc id and task name, dropping it when they match no task ("no handler
// registered for event", client/pluginmanager/drivermanager/instance.go). So a task rebuilt
// from the state dir gets them back from its id. An id of another shape keeps them empty.
inline TaskRef TaskRefFromId(const std::string& task_id) {
  TaskRef ref{task_id, "", ""};
  const size_t first = task_id.find('/');
  const size_t last = task_id.rfind('/');
  if (first == std::string::npos || first == 0 || last == first || last == task_id.size() - 1) {
    return ref;
  }
  ref.alloc_id = task_id.substr(0, first);
  ref.task_name = task_id.substr(first + 1, last - first - 1);
  if (ref.task_name.empty()) ref.alloc_id.clear();
  return ref;
}

struct FailoverEvent {
  TaskRef task;
  // One sentence for `nomad alloc status`, e.g.
  // "demoted group carp by 50 (demote count 0 → 50)".
  std::string message;
  // Machine-readable details: "phase" (idle|demoting|confirming|signalled|exited|held|restored
  // or "node"), "backend", "share", "demote_count_before"/"demote_count_after", "state",
  // "waited_ms", ... Values are strings because Nomad's event annotations are.
  std::map<std::string, std::string> annotations;
  // A step inside a hand-over (demoting, confirming): written to the log with its annotations
  // but not sent to Nomad, which keeps only a task's last 10 events (defaultMaxEvents in
  // client/allocrunner/taskrunner/task_runner.go): a hand-over shows as at most 3.
  bool detail = false;
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
