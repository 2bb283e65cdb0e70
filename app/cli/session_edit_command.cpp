// `trainbench sessions rename|tag|untag|note|delete|sweeps`: the session catalog's edits, the
// same the GUI's session browser makes (there, deletes are undoable until the window closes;
// here a delete is final, as a command line cannot take it back).
#include <cstdio>
#include <iostream>

#include <nlohmann/json.hpp>

#include "app/cli/cli.h"
#include "app/cli/commands.h"
#include "core/store/session_catalog.h"
#include "core/util/error.h"

namespace tb::app {

namespace {

using nlohmann::json;

int list_sweeps(const EditSessionsCommand& command) {
  if (!std::filesystem::exists(command.db_path)) {
    if (command.json)
      std::cout << json{{"sweeps", json::array()}}.dump() << std::endl;
    else
      std::printf("no sweeps in %s\n", command.db_path.c_str());
    return kExitOk;
  }
  store::SessionStore store(command.db_path, store::SessionStore::Mode::read_only);
  const auto sweeps = store::list_sweeps(store);
  if (command.json) {
    json list = json::array();
    for (const auto& sweep : sweeps) {
      json ids = json::array();
      for (auto id : store::sweep_sessions(store, sweep.id)) ids.push_back(id.value);
      list.push_back({{"sweep_id", sweep.id.value},
                      {"name", sweep.name},
                      {"created", sweep.created},
                      {"project", sweep.project},
                      {"grid", json::parse(sweep.grid_json, nullptr, false)},
                      {"sessions", ids}});
    }
    std::cout << json{{"sweeps", list}}.dump() << std::endl;
    return kExitOk;
  }
  if (sweeps.empty()) std::printf("no sweeps in %s\n", command.db_path.c_str());
  for (const auto& sweep : sweeps) {
    std::string ids;
    for (auto id : store::sweep_sessions(store, sweep.id)) {
      if (!ids.empty()) ids += ' ';
      ids += std::to_string(id.value);
    }
    std::printf(
        "sweep %lld  %s  (%s, %s): %lld sessions  %s\n  grid %s\n  compare: trainbench "
        "compare %s\n",
        static_cast<long long>(sweep.id.value), sweep.name.c_str(), sweep.project.c_str(),
        sweep.created.c_str(), static_cast<long long>(sweep.sessions), ids.c_str(),
        sweep.grid_json.c_str(), ids.c_str());
  }
  return kExitOk;
}

}  // namespace

int edit_sessions(const EditSessionsCommand& command) {
  if (command.action == "sweeps") return list_sweeps(command);
  if (!std::filesystem::exists(command.db_path)) {
    std::fprintf(stderr, "error: no session database at %s\n", command.db_path.c_str());
    return kExitBadInput;
  }
  store::SessionStore store(command.db_path);
  std::vector<store::SessionId> ids;
  for (auto id : command.ids) ids.emplace_back(id);
  try {
    for (auto id : ids) {
      if (!store.session(id)) {
        throw Error("no session " + std::to_string(id.value) + " in " + command.db_path.string());
      }
    }
    if (command.action == "rename") {
      store::rename_session(store, ids.front(), command.words.front());
    } else if (command.action == "tag") {
      for (const auto& tag : command.words) store::add_tag(store, ids.front(), tag);
    } else if (command.action == "untag") {
      for (const auto& tag : command.words) store::remove_tag(store, ids.front(), tag);
    } else if (command.action == "note") {
      store::set_notes(store, ids.front(), command.words.front());
    } else if (command.action == "delete") {
      store::delete_sessions(store, ids);
    }
  } catch (const Error& error) {
    std::fprintf(stderr, "error: %s\n", error.what());
    return kExitBadInput;
  }
  if (command.action == "delete") {
    if (command.json) {
      std::cout << json{{"deleted", command.ids}}.dump() << std::endl;
    } else {
      std::printf("deleted %zu session(s) with their metrics, checkpoints and traces\n",
                  ids.size());
    }
    return kExitOk;
  }
  const auto overview = store::session_overview(store, ids.front());
  if (command.json) {
    std::cout << json{{"session_id", overview->id.value},
                      {"name", overview->name},
                      {"tags", overview->tags},
                      {"notes", overview->notes}}
                     .dump()
              << std::endl;
  } else {
    std::string tags;
    for (const auto& tag : overview->tags) {
      if (!tags.empty()) tags += ", ";
      tags += tag;
    }
    std::printf("session %lld: %s\n  tags   %s\n  notes  %s\n",
                static_cast<long long>(overview->id.value), overview->name.c_str(), tags.c_str(),
                overview->notes.c_str());
  }
  return kExitOk;
}

}  // namespace tb::app
