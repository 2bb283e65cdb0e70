// DataCheckController: runs the dataset inspector on a project's data off the GUI thread.
//
// The worker thread reads the project's dataset and inspects it, builds the immutable
// DatasetCheckResult whole, and posts it to this object's (GUI) thread, where finished() is
// emitted; an engine error (a missing or corrupt dataset file, a bad option) arrives as failed()
// with its message instead. Either way exactly one of the two follows each accepted start().
//
// One check at a time: a start() while one runs is REFUSED (false, with a message), not queued.
// A queued request would check the same files again with whatever options were set first, and
// the inspector's button is disabled while a check runs anyway, so the only way to get there is
// a caller bug or a double click, for which silence beats a second multi-second pass.
//
// The destructor joins the worker: inspect() has no cancellation point, so closing the window
// during a check waits for it to end (seconds for the full Fashion-MNIST). Whatever the worker
// posted by then is discarded with this object.
#pragma once

#include <QObject>
#include <QString>

#include <filesystem>
#include <memory>
#include <thread>

#include "core/data/inspect.h"
#include "core/run/project.h"
#include "widgets/dataset_check_result.h"

namespace tb::app {

class DataCheckController : public QObject {
  Q_OBJECT

 public:
  explicit DataCheckController(QObject* parent = nullptr);
  ~DataCheckController() override;

  // Starts checking the project's data (data.path, train_limit, test_limit) with `options`.
  // False, with *error set and no signal to follow, when a check is already running.
  bool start(const run::Project& project, const data::InspectOptions& options,
             QString* error = nullptr);
  bool isRunning() const { return worker_.joinable(); }

  // What start() does on its worker, callable on any thread: loads and inspects, throws what
  // the engine throws.
  static std::shared_ptr<const widgets::DatasetCheckResult> check(
      const std::filesystem::path& dataPath, std::int64_t trainLimit, std::int64_t testLimit,
      const data::InspectOptions& options);

 signals:
  void finished(std::shared_ptr<const tb::widgets::DatasetCheckResult> result);
  void failed(const QString& message);

 private:
  void complete(std::shared_ptr<const widgets::DatasetCheckResult> result, const QString& error);

  std::thread worker_;
};

}  // namespace tb::app
