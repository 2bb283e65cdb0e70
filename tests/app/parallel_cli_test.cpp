// Parallel training from the command line: `trainbench launch` starts the ranks through mpirun,
// and a rank that dies or hangs ends the run as failed within the timeout, the session keeping
// what it had stored. Skipped where OpenMPI's mpirun is not installed.
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/store/session_store.h"
#include "tests/support/cli_support.h"
#include "tests/support/test_data.h"

extern char** environ;

namespace tb::app {
namespace {

using nlohmann::json;
using tb::testing::TempDir;
using tb::testing::trainbench;
using Clock = std::chrono::steady_clock;

bool have_mpirun() {
  return std::system("command -v mpirun >/dev/null 2>&1") == 0;
}

// Shared-memory transport without ptrace permissions (containers), as the mpi tests run it.
void mpi_environment() {
  setenv("OMPI_MCA_btl_vader_single_copy_mechanism", "none", 1);
  setenv("OMPI_ALLOW_RUN_AS_ROOT", "1", 1);
  setenv("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1", 1);
}

// dir/data and dir/long.json: a run far longer than the tests let it go on.
std::string write_long_project(const TempDir& dir, int ranks, double timeout_s) {
  tb::testing::write_synthetic_fashion_mnist(dir / "data", 2048, 64, 3);
  const auto file = dir / "long.json";
  std::ofstream(file) << json{{"name", "long"},
                              {"data", {{"path", (dir / "data").string()}, {"batch_size", 16}}},
                              {"model", {{"hidden", {32}}}},
                              {"train", {{"threads", 1}, {"epochs", 1000}}},
                              {"parallel", {{"data", ranks}, {"timeout_s", timeout_s}}}}
                             .dump();
  return file.string();
}

// `trainbench launch ...` started in the background.
pid_t start_launch(const std::vector<std::string>& args) {
  std::vector<std::string> all = {TRAINBENCH_CLI, "launch"};
  all.insert(all.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : all) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = 0;
  if (posix_spawn(&pid, argv[0], nullptr, nullptr, argv.data(), environ) != 0) return -1;
  return pid;
}

// The exit status, or nullopt when the process is still running after `limit`.
std::optional<int> wait_for_exit(pid_t pid, std::chrono::seconds limit) {
  const auto until = Clock::now() + limit;
  while (Clock::now() < until) {
    int status = 0;
    if (waitpid(pid, &status, WNOHANG) == pid) {
      return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return std::nullopt;
}

// Steps rank 0 has stored so far for the only session in db (0 until it exists).
std::size_t stored_steps(const std::filesystem::path& db) {
  if (!std::filesystem::exists(db)) return 0;
  try {
    store::SessionStore store(db, store::SessionStore::Mode::read_only);
    const auto sessions = store.list_sessions();
    if (sessions.empty()) return 0;
    return store.metrics(sessions.front().id, "train_loss").size();
  } catch (const std::exception&) {
    return 0;  // being written
  }
}

// The pid of the trainbench process that is rank `rank` of the job whose project is `project`.
pid_t find_rank(int rank, const std::string& project) {
  const std::string wanted = "OMPI_COMM_WORLD_RANK=" + std::to_string(rank);
  for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
    const std::string name = entry.path().filename();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream cmdline_file(entry.path() / "cmdline");
    std::string cmdline((std::istreambuf_iterator<char>(cmdline_file)), {});
    if (cmdline.find(project) == std::string::npos || cmdline.find("mpirun") == 0) continue;
    std::ifstream environ_file(entry.path() / "environ");
    std::string variables((std::istreambuf_iterator<char>(environ_file)), {});
    for (std::size_t at = 0; at < variables.size();) {
      const auto end = variables.find('\0', at);
      if (variables.compare(at, end - at, wanted) == 0) return std::stoi(name);
      if (end == std::string::npos) break;
      at = end + 1;
    }
  }
  return -1;
}

class ParallelCli : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!have_mpirun()) GTEST_SKIP() << "openmpi-bin (mpirun) is not installed";
    mpi_environment();
  }
  // Launches the long project on 2 ranks with `timeout_s`, waits until rank 0 has stored 20
  // steps, and returns rank 1's pid (the launcher's in launcher_); -1 when that did not happen.
  pid_t start_long_run(double timeout_s) {
    const auto project = write_long_project(dir_, 2, timeout_s);
    launcher_ = start_launch({project, "--db", db_.string()});
    if (launcher_ <= 0) return -1;
    const auto started = Clock::now();
    while (stored_steps(db_) < 20 && Clock::now() - started < std::chrono::seconds(120)) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return stored_steps(db_) >= 20 ? find_rank(1, project) : -1;
  }
  // The only session's status and error, once the job has ended.
  std::pair<std::string, std::string> session_outcome() const {
    store::SessionStore store(db_, store::SessionStore::Mode::read_only);
    const auto sessions = store.list_sessions();
    if (sessions.size() != 1) return {"sessions: " + std::to_string(sessions.size()), ""};
    const auto summary = json::parse(store.session(sessions.front().id)->summary_json);
    return {sessions.front().status, summary.value("error", "")};
  }
  TempDir dir_;
  std::filesystem::path db_ = dir_ / "s.db";
  pid_t launcher_ = -1;
};

TEST_F(ParallelCli, LaunchTrainsDataParallelAndRankZeroStoresOneSession) {
  tb::testing::write_synthetic_fashion_mnist(dir_ / "data", 512, 64, 3);
  std::ofstream(dir_ / "p.json") << json{
      {"name", "launched"},
      {"data", {{"path", (dir_ / "data").string()}}},
      {"model", {{"hidden", {16}}}},
      {"train",
       {{"threads", 1}, {"epochs", 1}}}}.dump();
  const auto db = dir_ / "s.db";
  // The project says nothing about parallelism: -n 2 makes it two data-parallel replicas.
  const auto run = trainbench("launch -n 2 " + (dir_ / "p.json").string() +
                                  " --set data.batch_size=32 --json --db " + db.string(),
                              dir_);
  ASSERT_EQ(run.exit_code, 0) << run.err;
  store::SessionStore store(db, store::SessionStore::Mode::read_only);
  const auto sessions = store.list_sessions();
  ASSERT_EQ(sessions.size(), 1u);  // rank 1 stores nothing
  EXPECT_EQ(sessions.front().status, "completed");
  const auto params = store.params(sessions.front().id);
  const auto param = [&](const std::string& key) {
    for (const auto& [k, v] : params) {
      if (k == key) return v;
    }
    return std::string();
  };
  EXPECT_EQ(param("parallel.data"), "2");
  EXPECT_EQ(param("parallel.ranks"), "2");
  // 512 samples in global batches of 2 x 32: 8 steps, each the whole job's 64 samples.
  EXPECT_EQ(store.metrics(sessions.front().id, "train_loss").size(), 8u);
  EXPECT_EQ(param("loader.samples"), "256");  // rank 0's half

  // -n that contradicts the project is refused before mpirun starts.
  std::ofstream(dir_ / "four.json")
      << json{{"data", {{"path", (dir_ / "data").string()}}}, {"parallel", {{"data", 4}}}}.dump();
  const auto refused = trainbench("launch -n 3 " + (dir_ / "four.json").string(), dir_);
  EXPECT_NE(refused.exit_code, 0);
  EXPECT_NE(refused.err.find("-n 3, but the project trains on 4 ranks"), std::string::npos)
      << refused.err;
}

TEST_F(ParallelCli, AKilledRankFailsTheRunCleanlyAndKeepsWhatWasStored) {
  const pid_t rank1 = start_long_run(20.0);
  ASSERT_GT(rank1, 0) << "the run did not get going";
  const auto killed_at = Clock::now();
  kill(rank1, SIGKILL);
  const auto exit_code = wait_for_exit(launcher_, std::chrono::seconds(60));
  if (!exit_code) kill(launcher_, SIGKILL);
  ASSERT_TRUE(exit_code.has_value()) << "the job did not end after a rank was killed";
  EXPECT_NE(*exit_code, 0);
  EXPECT_LT(Clock::now() - killed_at, std::chrono::seconds(20));  // within the timeout

  const auto [status, error] = session_outcome();
  EXPECT_EQ(status, "failed");
  EXPECT_NE(error.find("rank 0 of 2"), std::string::npos) << error;
  EXPECT_NE(error.find("another rank failed"), std::string::npos) << error;
  // What was stored before stays.
  store::SessionStore store(db_, store::SessionStore::Mode::read_only);
  EXPECT_GE(store.metrics(store.list_sessions().front().id, "train_loss").size(), 20u);
}

TEST_F(ParallelCli, AHangingRankFailsTheRunAfterTheTimeout) {
  const pid_t rank1 = start_long_run(3.0);
  ASSERT_GT(rank1, 0) << "the run did not get going";
  const auto stopped_at = Clock::now();
  kill(rank1, SIGSTOP);  // alive, but never answers again
  const auto exit_code = wait_for_exit(launcher_, std::chrono::seconds(60));
  if (!exit_code) {
    kill(rank1, SIGKILL);
    kill(launcher_, SIGKILL);
  }
  ASSERT_TRUE(exit_code.has_value()) << "the job did not end after a rank hung";
  EXPECT_NE(*exit_code, 0);
  const auto took = Clock::now() - stopped_at;
  EXPECT_GE(took, std::chrono::seconds(2));   // not before the timeout (3 s) ...
  EXPECT_LT(took, std::chrono::seconds(20));  // ... and soon after it

  const auto [status, error] = session_outcome();
  EXPECT_EQ(status, "failed");
  EXPECT_NE(error.find("rank 0 of 2"), std::string::npos) << error;
  EXPECT_NE(error.find("waited more than 3 s for the other ranks"), std::string::npos) << error;
}

}  // namespace
}  // namespace tb::app
