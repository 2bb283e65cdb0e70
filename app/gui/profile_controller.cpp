#include "app/gui/profile_controller.h"

#include "core/store/trace_store.h"

namespace tb::app {

// Lives on the controller's thread: its slot runs there, one request at a time.
class ProfileController::Worker : public QObject {
  Q_OBJECT

 public:
  explicit Worker(std::filesystem::path dbPath) : dbPath_(std::move(dbPath)) {}

 public:
  void load(tb::store::SessionId id) {
    std::shared_ptr<const trace::Trace> trace;
    trace::SessionFacts facts;
    QString error;
    try {
      if (!store_) {
        store_ =
            std::make_unique<store::SessionStore>(dbPath_, store::SessionStore::Mode::read_only);
      }
      trace = std::make_shared<const trace::Trace>(store::load_trace(*store_, id));
      facts = trace::session_facts(store_->params(id));
    } catch (const std::exception& e) {
      error = QString::fromStdString(e.what());
      store_.reset();  // open again next time: the file may have been replaced
    }
    emit done(id.value, std::move(trace), facts, error);
  }

 signals:
  void done(qint64 sessionId, std::shared_ptr<const tb::trace::Trace> trace,
            tb::trace::SessionFacts facts, const QString& error);

 private:
  std::filesystem::path dbPath_;
  std::unique_ptr<store::SessionStore> store_;
};

ProfileController::ProfileController(std::filesystem::path dbPath, QObject* parent)
    : QObject(parent), worker_(new Worker(std::move(dbPath))) {
  qRegisterMetaType<std::shared_ptr<const trace::Trace>>();
  qRegisterMetaType<trace::SessionFacts>();
  worker_->moveToThread(&thread_);
  connect(&thread_, &QThread::finished, worker_, &QObject::deleteLater);
  connect(worker_, &Worker::done, this, &ProfileController::onDone, Qt::QueuedConnection);
  thread_.setObjectName("trace loader");
  thread_.start();
}

ProfileController::~ProfileController() {
  thread_.quit();
  thread_.wait();
}

void ProfileController::load(store::SessionId id) {
  if (inFlight_) {
    queued_ = id;
    return;
  }
  inFlight_ = id;
  Worker* worker = worker_;
  QMetaObject::invokeMethod(
      worker, [worker, id] { worker->load(id); }, Qt::QueuedConnection);
}

void ProfileController::onDone(qint64 sessionId, std::shared_ptr<const trace::Trace> trace,
                               trace::SessionFacts facts, const QString& error) {
  const store::SessionId id(sessionId);
  inFlight_.reset();
  if (queued_) {
    const auto next = *queued_;
    queued_.reset();
    load(next);
    if (next != id) return;  // a newer request for another session: this result is stale
  }
  if (!error.isEmpty()) {
    emit failed(sessionId, error);
  } else {
    emit loaded(sessionId, std::move(trace), facts);
  }
}

}  // namespace tb::app

#include "profile_controller.moc"
