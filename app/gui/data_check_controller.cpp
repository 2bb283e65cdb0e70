#include "app/gui/data_check_controller.h"

#include <QMetaObject>

#include <chrono>
#include <exception>
#include <system_error>
#include <utility>

#include "core/data/dataset.h"

namespace tb::app {

DataCheckController::DataCheckController(QObject* parent) : QObject(parent) {
  qRegisterMetaType<std::shared_ptr<const widgets::DatasetCheckResult>>(
      "std::shared_ptr<const tb::widgets::DatasetCheckResult>");
}

DataCheckController::~DataCheckController() {
  if (worker_.joinable()) worker_.join();
}

std::shared_ptr<const widgets::DatasetCheckResult> DataCheckController::check(
    const std::filesystem::path& dataPath, std::int64_t trainLimit, std::int64_t testLimit,
    const data::InspectOptions& options) {
  using Clock = std::chrono::steady_clock;
  const auto start = Clock::now();
  auto split = std::make_shared<data::TrainTestSplit>(
      data::load_fashion_mnist(dataPath, trainLimit, testLimit));
  auto result = std::make_shared<widgets::DatasetCheckResult>();
  result->load_seconds = std::chrono::duration<double>(Clock::now() - start).count();
  result->report = data::inspect(split->train, split->test, options);
  result->split = std::move(split);
  result->source =
      (dataPath.empty() ? data::default_fashion_mnist_dir() : dataPath).lexically_normal().string();
  return result;
}

bool DataCheckController::start(const run::Project& project, const data::InspectOptions& options,
                                QString* error) {
  if (worker_.joinable()) {
    if (error) *error = tr("A dataset check is already running.");
    return false;
  }
  const std::filesystem::path path = project.data.path;
  const std::int64_t trainLimit = project.data.train_limit;
  const std::int64_t testLimit = project.data.test_limit;
  try {
    worker_ = std::thread([this, path, trainLimit, testLimit, options] {
      std::shared_ptr<const widgets::DatasetCheckResult> result;
      QString message;
      try {
        result = check(path, trainLimit, testLimit, options);
      } catch (const std::exception& e) {
        message = QString::fromUtf8(e.what());
      } catch (...) {
        message = QStringLiteral("the dataset check failed with an unknown error");
      }
      if (!result && message.isEmpty()) message = QStringLiteral("the dataset check failed");
      // The last thing this thread does: complete() joins it, so the join never waits long.
      QMetaObject::invokeMethod(
          this, [this, result, message] { complete(result, message); }, Qt::QueuedConnection);
    });
  } catch (const std::system_error& e) {
    if (error) *error = tr("Cannot start the dataset check: %1").arg(QString::fromUtf8(e.what()));
    return false;
  }
  return true;
}

void DataCheckController::complete(std::shared_ptr<const widgets::DatasetCheckResult> result,
                                   const QString& error) {
  if (worker_.joinable()) worker_.join();
  // Emitted after the join, so a slot may start the next check at once.
  if (result) {
    emit finished(std::move(result));
  } else {
    emit failed(error);
  }
}

}  // namespace tb::app
