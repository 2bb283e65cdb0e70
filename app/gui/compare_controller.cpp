#include "app/gui/compare_controller.h"

#include "core/store/trace_store.h"

namespace tb::app {

namespace {

std::vector<store::SessionId> toIds(const QList<qint64>& ids) {
  std::vector<store::SessionId> out;
  for (qint64 id : ids) out.emplace_back(id);
  return out;
}

}  // namespace

// Lives on the controller's thread: requests run there one at a time, in order.
class CompareController::Worker : public QObject {
  Q_OBJECT

 public:
  Worker(std::filesystem::path dbPath, const std::atomic<quint64>& latest)
      : dbPath_(std::move(dbPath)), latest_(latest) {}

  void load(quint64 generation, const QList<qint64>& ids) {
    if (generation != latest_.load()) return;  // replaced before it started
    const auto sessionIds = toIds(ids);
    try {
      auto sessions = std::make_shared<std::vector<compare::SessionData>>(
          compare::load_sessions(dbPath_, sessionIds, initialMetrics()));
      QStringList metrics;
      for (const auto& key : compare::metric_keys_of(dbPath_, sessionIds)) {
        metrics << QString::fromStdString(key);
      }
      emit loaded(generation, std::move(sessions), metrics);
    } catch (const std::exception& error) {
      emit failed(generation, QString::fromUtf8(error.what()));
      return;
    }
    // Traces after the curves: the summary and curves show while they decode.
    try {
      store::SessionStore store(dbPath_, store::SessionStore::Mode::read_only);
      auto traces = std::make_shared<std::vector<std::shared_ptr<const trace::Trace>>>();
      for (store::SessionId id : sessionIds) {
        if (generation != latest_.load()) return;
        auto trace = std::make_shared<const trace::Trace>(store::load_trace(store, id));
        traces->push_back(trace->spans().empty() ? nullptr : std::move(trace));
      }
      emit tracesLoaded(generation, std::move(traces));
    } catch (const std::exception& error) {
      emit failed(generation, QString::fromUtf8(error.what()));
    }
  }

  void loadMetric(quint64 generation, const QList<qint64>& ids, const QString& key) {
    if (generation != latest_.load()) return;
    try {
      const auto sessions = compare::load_sessions(dbPath_, toIds(ids), {key.toStdString()});
      auto series = std::make_shared<std::vector<compare::MetricSeries>>();
      for (const auto& session : sessions) {
        const auto it = session.metrics.find(key.toStdString());
        series->push_back(it == session.metrics.end() ? compare::MetricSeries{} : it->second);
      }
      emit metricLoaded(generation, key, std::move(series));
    } catch (const std::exception& error) {
      emit failed(generation, QString::fromUtf8(error.what()));
    }
  }

 signals:
  void loaded(quint64 generation, tb::app::CompareSessions sessions, QStringList metrics);
  void tracesLoaded(quint64 generation, tb::app::CompareTraces traces);
  void metricLoaded(quint64 generation, QString key, tb::app::CompareSeries series);
  void failed(quint64 generation, QString message);

 private:
  std::filesystem::path dbPath_;
  const std::atomic<quint64>& latest_;
};

const std::vector<std::string>& CompareController::initialMetrics() {
  static const std::vector<std::string> keys = {"train_loss", "test_accuracy"};
  return keys;
}

CompareController::CompareController(std::filesystem::path dbPath, QObject* parent)
    : QObject(parent), worker_(new Worker(std::move(dbPath), latest_)) {
  qRegisterMetaType<CompareSessions>();
  qRegisterMetaType<CompareTraces>();
  qRegisterMetaType<CompareSeries>();
  worker_->moveToThread(&thread_);
  connect(&thread_, &QThread::finished, worker_, &QObject::deleteLater);
  connect(worker_, &Worker::loaded, this, &CompareController::loaded, Qt::QueuedConnection);
  connect(worker_, &Worker::tracesLoaded, this, &CompareController::tracesLoaded,
          Qt::QueuedConnection);
  connect(worker_, &Worker::metricLoaded, this, &CompareController::metricLoaded,
          Qt::QueuedConnection);
  connect(worker_, &Worker::failed, this, &CompareController::failed, Qt::QueuedConnection);
  thread_.setObjectName("compare loader");
  thread_.start();
}

CompareController::~CompareController() {
  latest_ = ++generation_;  // anything still queued is dropped
  thread_.quit();
  thread_.wait();
}

quint64 CompareController::load(const QList<qint64>& sessionIds) {
  ids_ = sessionIds;
  const quint64 generation = ++generation_;
  latest_ = generation;
  Worker* worker = worker_;
  QMetaObject::invokeMethod(
      worker, [worker, generation, sessionIds] { worker->load(generation, sessionIds); },
      Qt::QueuedConnection);
  return generation;
}

void CompareController::loadMetric(const QString& key) {
  const quint64 generation = generation_;
  const QList<qint64> ids = ids_;
  Worker* worker = worker_;
  QMetaObject::invokeMethod(
      worker, [worker, generation, ids, key] { worker->loadMetric(generation, ids, key); },
      Qt::QueuedConnection);
}

}  // namespace tb::app

#include "compare_controller.moc"
