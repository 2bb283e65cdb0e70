// ProfileController: loads a session's trace for the Profile tab off the GUI thread.
//
// A worker thread holds its own read-only connection to the session database; load() posts the
// request there, and the finished trace comes back as an immutable shared snapshot through a
// queued signal, so the GUI never waits on SQLite or on decoding chunks. Requests do not pile
// up: while one load runs, later requests collapse into one (the newest), which is what a live
// run's periodic refresh needs.
#pragma once

#include <QMetaType>
#include <QObject>
#include <QString>
#include <QThread>

#include <filesystem>
#include <memory>
#include <optional>

#include "core/store/session_store.h"
#include "core/trace/model.h"
#include "core/trace/verdict.h"

Q_DECLARE_METATYPE(std::shared_ptr<const tb::trace::Trace>)
Q_DECLARE_METATYPE(tb::trace::SessionFacts)

namespace tb::app {

class ProfileController : public QObject {
  Q_OBJECT

 public:
  explicit ProfileController(std::filesystem::path dbPath, QObject* parent = nullptr);
  ~ProfileController() override;  // waits for a load in progress

  // Loads session `id`'s trace (again, when it is the one shown: a live run's newer spans).
  void load(store::SessionId id);
  bool busy() const { return inFlight_.has_value(); }

 signals:
  // `facts`: what the session's params say besides the trace, for the verdict.
  // Session ids travel as plain integers (store::SessionId::value) through Qt's signals.
  void loaded(qint64 sessionId, std::shared_ptr<const tb::trace::Trace> trace,
              tb::trace::SessionFacts facts);
  void failed(qint64 sessionId, const QString& message);

 private:
  class Worker;
  void onDone(qint64 sessionId, std::shared_ptr<const trace::Trace> trace,
              trace::SessionFacts facts, const QString& error);

  QThread thread_;
  Worker* worker_ = nullptr;  // lives on thread_, deleted when it finishes
  std::optional<store::SessionId> inFlight_;
  std::optional<store::SessionId> queued_;
};

}  // namespace tb::app
