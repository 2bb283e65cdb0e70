#include "app/cli/progress.h"

#include <unistd.h>

#include <algorithm>
#include <string>

namespace tb::app {
namespace {
std::string clock_text(double seconds) {
  const auto s = static_cast<long>(std::max(0.0, seconds));
  char text[32];
  std::snprintf(text, sizeof text, "%ld:%02ld:%02ld", s / 3600, (s / 60) % 60, s % 60);
  return text;
}
}  // namespace

ProgressPrinter::ProgressPrinter(std::FILE* out, bool quiet)
    : out_(out), quiet_(quiet), terminal_(isatty(fileno(out)) != 0) {}

void ProgressPrinter::on_start(const run::RunInfo& info) {
  info_ = info;
  if (quiet_) return;
  std::fprintf(out_, "%s: %s (%lld parameters)\n", info.name.c_str(), info.model_summary.c_str(),
               static_cast<long long>(info.parameters));
  std::fprintf(
      out_, "%lld training / %lld test samples, %lld epochs of %lld steps%s\n",
      static_cast<long long>(info.train_samples), static_cast<long long>(info.test_samples),
      static_cast<long long>(info.epochs), static_cast<long long>(info.steps_per_epoch),
      info.session.valid() ? (", session " + std::to_string(info.session.value)).c_str() : "");
}

void ProgressPrinter::on_step(const run::StepReport& step) {
  last_step_ = step;
  draw(false);
}

void ProgressPrinter::draw(bool force) {
  if (quiet_ || !terminal_) return;
  const auto now = std::chrono::steady_clock::now();
  if (!force && now - last_draw_ < std::chrono::milliseconds(100)) return;
  last_draw_ = now;
  const auto total = std::max<std::int64_t>(1, info_.total_steps);
  const double done =
      std::min(1.0, static_cast<double>(last_step_.step) / static_cast<double>(total));
  constexpr int kWidth = 30;
  const int filled = static_cast<int>(done * kWidth);
  std::string bar(static_cast<std::size_t>(filled), '#');
  bar.append(static_cast<std::size_t>(kWidth - filled), '.');
  const double eta = done > 0 ? last_step_.elapsed_s * (1.0 - done) / done : 0.0;
  std::string accuracy =
      last_accuracy_ >= 0 ? "  test acc " + std::to_string(last_accuracy_).substr(0, 6) : "";
  std::fprintf(out_, "\r\033[Kepoch %lld/%lld [%s] %3.0f%%  loss %.4f%s  %.0f samples/s  ETA %s",
               static_cast<long long>(last_step_.epoch), static_cast<long long>(info_.epochs),
               bar.c_str(), done * 100.0, last_step_.train_loss, accuracy.c_str(),
               last_step_.samples_per_s, clock_text(eta).c_str());
  std::fflush(out_);
}

void ProgressPrinter::on_epoch(const run::EpochReport& epoch) {
  last_accuracy_ = epoch.test_accuracy;
  if (quiet_) return;
  if (terminal_) std::fprintf(out_, "\r\033[K");
  std::fprintf(out_,
               "epoch %lld/%lld  train loss %.4f  test loss %.4f  test accuracy %.4f  %.0f "
               "samples/s  %s\n",
               static_cast<long long>(epoch.epoch), static_cast<long long>(info_.epochs),
               epoch.train_loss, epoch.test_loss, epoch.test_accuracy, epoch.samples_per_s,
               clock_text(epoch.elapsed_s).c_str());
  std::fflush(out_);
}

void ProgressPrinter::on_finish(const run::RunResult& result) {
  if (quiet_) return;
  if (terminal_) std::fprintf(out_, "\r\033[K");
  std::fflush(out_);
  (void)result;
}

}  // namespace tb::app
