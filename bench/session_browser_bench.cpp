// The session browser over 10,000 sessions: from opening the database (the count query and the
// first page) to the first painted frame, then a sort and a jump to the last row; beside the
// Train tab's session list (every row read with its project and summary JSON, columns sized to
// their contents), measured in the same run on the same file.
//
//   QT_QPA_PLATFORM=offscreen build/bench/bench_session_browser [sessions]
#include <QApplication>
#include <QElapsedTimer>
#include <QHeaderView>
#include <QTableView>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <vector>

#include "core/store/session_store.h"
#include "tests/support/raw_sqlite.h"
#include "widgets/session_browser.h"
#include "widgets/session_browser_model.h"
#include "widgets/session_table_model.h"

namespace {

namespace fs = std::filesystem;
namespace raw = tb::store::testing_raw;

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  return values[values.size() / 2];
}

// A project file and a run summary of the size real sessions store.
constexpr const char* kProjectJson =
    R"({"name":"fashion_mlp","seed":42,"device":"cpu","precision":"fp32","amp":{"init_scale":65536,)"
    R"("growth_factor":2,"backoff_factor":0.5,"growth_interval":2000},"data":{"dataset":)"
    R"("fashion-mnist","path":"","batch_size":128,"shuffle":true,"train_limit":0,"test_limit":0,)"
    R"("loader":{"mode":"batch","shuffle_buffer":10000,"dedup":false,"workers":2,"prefetch":4,)"
    R"("cache":"none","cache_mib":512,"cache_dir":"","on_error":"fail","augment":{)"
    R"("crop_padding":0,"flip":false}}},"model":{"type":"mlp","hidden":[256,128],"dropout":0},)"
    R"("optimizer":{"type":"sgd","lr":0.02,"momentum":0.9,"weight_decay":0,"nesterov":false},)"
    R"("schedule":{"type":"cosine","warmup_steps":0},"train":{"epochs":20,"max_steps":0,)"
    R"("threads":2,"eval_batch_size":1000,"clip_grad_norm":0,"checkpoint":0}})";
constexpr const char* kSummaryJson =
    R"({"status":"completed","test_accuracy":0.8957,"test_loss":0.31,"train_loss":0.22,)"
    R"("samples_per_s":51234.5,"train_s":23.1,"data_wait_s":0.2,"epochs":20,"steps":9380,)"
    R"("wall_s":24.0,"parameters":235146,"precision":"fp32","activation_bytes":1000000,)"
    R"("weight_bytes":940584,"peak_memory_bytes":4000000,"skipped_steps":0})";

}  // namespace

int main(int argc, char** argv) {
  QApplication app(argc, argv);
  const int sessions = argc > 1 ? std::atoi(argv[1]) : 10'000;
  const fs::path dir = fs::temp_directory_path() / "trainbench_bench_session_browser";
  fs::remove_all(dir);
  fs::create_directories(dir);
  const fs::path path = dir / "sessions.db";
  { tb::store::SessionStore create(path); }
  raw::generate_sessions(path, sessions);
  raw::raw_exec(path, std::string("UPDATE sessions SET project_json = '") + kProjectJson +
                          "', summary_json = '" + kSummaryJson + "'");
  std::printf("%d sessions in %s (%.1f MB)\n", sessions, path.c_str(),
              static_cast<double>(fs::file_size(path)) / 1e6);

  constexpr int kRuns = 7;
  std::vector<double> open_ms, paint_ms, first_ms, sort_ms, end_ms, peer_ms;
  for (int run = 0; run < kRuns; ++run) {
    QElapsedTimer timer;
    timer.start();
    tb::widgets::SessionBrowser browser;
    browser.resize(1400, 800);
    if (!browser.openDatabase(path)) return 1;
    const double opened = static_cast<double>(timer.nsecsElapsed()) * 1e-6;
    browser.show();
    (void)browser.grab();  // the first frame, painted
    const double painted = static_cast<double>(timer.nsecsElapsed()) * 1e-6;
    open_ms.push_back(opened);
    paint_ms.push_back(painted - opened);
    first_ms.push_back(painted);

    timer.restart();
    browser.table()->sortByColumn(tb::widgets::SessionBrowserModel::ThroughputColumn,
                                  Qt::DescendingOrder);
    (void)browser.grab();
    sort_ms.push_back(static_cast<double>(timer.nsecsElapsed()) * 1e-6);
    timer.restart();
    browser.table()->scrollToBottom();
    (void)browser.grab();
    end_ms.push_back(static_cast<double>(timer.nsecsElapsed()) * 1e-6);
    browser.hide();

    // The peer: every row read and parsed, then shown with columns sized to their contents.
    timer.restart();
    {
      tb::store::SessionStore store(path, tb::store::SessionStore::Mode::read_only);
      tb::widgets::SessionTableModel model;
      model.setSessions(store.list_sessions());
      QTableView view;
      view.resize(1400, 800);
      view.setModel(&model);
      view.horizontalHeader()->setSectionResizeMode(QHeaderView::ResizeToContents);
      view.show();
      (void)view.grab();
    }
    peer_ms.push_back(static_cast<double>(timer.nsecsElapsed()) * 1e-6);
  }

  std::printf("\nsession browser, %d sessions (median of %d runs)\n", sessions, kRuns);
  std::printf("  %-46s %9s\n", "", "ms");
  std::printf("  %-46s %9.1f\n", "open: connection, count, groups", median(open_ms));
  std::printf("  %-46s %9.1f\n", "first paint after the query", median(paint_ms));
  std::printf("  %-46s %9.1f   (requirement: paint <= 200 ms)\n", "open to first frame",
              median(first_ms));
  std::printf("  %-46s %9.1f\n", "sort by samples/s + frame", median(sort_ms));
  std::printf("  %-46s %9.1f\n", "scroll to the last row + frame", median(end_ms));
  std::printf("  %-46s %9.1f   (%.1fx ours)\n", "peer: read all rows + parse JSON + frame",
              median(peer_ms), median(peer_ms) / median(first_ms));
  fs::remove_all(dir);
  return 0;
}
