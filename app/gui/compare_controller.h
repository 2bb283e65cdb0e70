// CompareController: loads what the Compare tab shows, off the GUI thread.
//
// A worker thread reads the sessions (settings, summaries and the first curves, through
// compare::load_sessions, which spreads the sessions over its own threads), then their traces, and
// later any metric the user asks for; each result comes back through a queued signal as data the
// GUI thread takes over whole. Every request carries a generation: results of a comparison the
// user has since replaced are dropped, not shown.
#pragma once

#include <QList>
#include <QMetaType>
#include <QObject>
#include <QString>
#include <QStringList>
#include <QThread>

#include <atomic>
#include <filesystem>
#include <memory>
#include <vector>

#include "core/compare/compare_data.h"
#include "core/trace/model.h"

namespace tb::app {

using CompareSessions = std::shared_ptr<std::vector<compare::SessionData>>;
using CompareTraces = std::shared_ptr<std::vector<std::shared_ptr<const trace::Trace>>>;
using CompareSeries = std::shared_ptr<std::vector<compare::MetricSeries>>;

class CompareController : public QObject {
  Q_OBJECT

 public:
  // The curves loaded with the sessions; others are loaded when asked for.
  static const std::vector<std::string>& initialMetrics();

  explicit CompareController(std::filesystem::path dbPath, QObject* parent = nullptr);
  ~CompareController() override;  // waits for a load in progress

  // Starts loading a comparison (replacing any other); returns its generation.
  quint64 load(const QList<qint64>& sessionIds);
  // Loads one more metric of the current comparison.
  void loadMetric(const QString& key);
  quint64 generation() const { return generation_; }

 signals:
  void loaded(quint64 generation, tb::app::CompareSessions sessions, QStringList metrics);
  void tracesLoaded(quint64 generation, tb::app::CompareTraces traces);
  void metricLoaded(quint64 generation, QString key, tb::app::CompareSeries series);
  void failed(quint64 generation, QString message);

 private:
  class Worker;
  // The generation the GUI wants now, read by the worker to skip work nobody will see.
  std::atomic<quint64> latest_{0};
  QThread thread_;
  Worker* worker_ = nullptr;  // lives on thread_
  quint64 generation_ = 0;
  QList<qint64> ids_;
};

}  // namespace tb::app

Q_DECLARE_METATYPE(tb::app::CompareSessions)
Q_DECLARE_METATYPE(tb::app::CompareTraces)
Q_DECLARE_METATYPE(tb::app::CompareSeries)
