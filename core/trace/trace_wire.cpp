#include "core/trace/trace_wire.h"

#include <string>

#include <nlohmann/json.hpp>

#include "core/util/error.h"

namespace tb::trace {

using nlohmann::json;

std::vector<std::uint8_t> encode_trace(const Trace& batch) {
  json tracks = json::array();
  for (const Track& t : batch.tracks()) {
    tracks.push_back({t.name, track_kind_name(t.kind), t.process, t.rank});
  }
  json names = json::array();
  for (std::size_t i = 1; i <= batch.names().size(); ++i) {
    names.push_back(std::string(batch.name(NameId(static_cast<std::int64_t>(i)))));
  }
  json args = json::array();
  for (std::size_t i = 1; i <= batch.args_count(); ++i) {
    args.push_back(std::string(batch.args(ArgsId(static_cast<std::int64_t>(i)))));
  }
  json spans = json::array();
  for (const Span& s : batch.spans()) {
    spans.push_back({s.start_ns, s.end_ns, s.step, s.track.value, s.name.value, s.args.value,
                     static_cast<int>(s.category)});
  }
  json counters = json::array();
  for (const Counter& c : batch.counters()) {
    json points = json::array();
    for (const CounterPoint& p : c.points) points.push_back({p.time_ns, p.value});
    counters.push_back({c.name, c.unit, points});
  }
  json flows = json::array();
  for (const Flow& f : batch.flows()) {
    flows.push_back({f.id, f.from_track.value, f.from_ns, f.to_track.value, f.to_ns});
  }
  return json::to_cbor(json{{"tracks", tracks},
                            {"names", names},
                            {"args", args},
                            {"spans", spans},
                            {"counters", counters},
                            {"flows", flows}});
}

void append_rank_trace(Trace& into, std::span<const std::uint8_t> bytes, std::int64_t rank,
                       std::int64_t shift_ns) {
  json doc;
  try {
    doc = json::from_cbor(bytes.begin(), bytes.end());
  } catch (const json::parse_error& e) {
    throw Error("rank " + std::to_string(rank) + "'s trace: not a trace batch at byte " +
                std::to_string(e.byte) + " of " + std::to_string(bytes.size()));
  }
  try {
    const std::string suffix = " rank " + std::to_string(rank);
    std::vector<TrackId> track_ids;
    for (const auto& t : doc.at("tracks")) {
      Track track;
      track.name = t.at(0).get<std::string>();
      track.kind = track_kind_from_name(t.at(1).get<std::string>()).value_or(TrackKind::cpu_thread);
      track.process = t.at(2).get<std::string>() + suffix;
      track.rank = rank;
      TrackId id;
      for (std::size_t i = 0; i < into.tracks().size() && !id.valid(); ++i) {
        const Track& have = into.tracks()[i];
        if (have.name == track.name && have.process == track.process) {
          id = TrackId(static_cast<std::int64_t>(i + 1));
        }
      }
      track_ids.push_back(id.valid() ? id : into.add_track(std::move(track)));
    }
    const auto track_of = [&](std::int64_t value) {
      if (value < 1 || value > static_cast<std::int64_t>(track_ids.size())) {
        throw Error("rank " + std::to_string(rank) + "'s trace: no track " + std::to_string(value));
      }
      return track_ids[static_cast<std::size_t>(value - 1)];
    };
    std::vector<NameId> name_ids;
    for (const auto& n : doc.at("names")) name_ids.push_back(into.intern(n.get<std::string>()));
    std::vector<ArgsId> args_ids;
    for (const auto& a : doc.at("args")) args_ids.push_back(into.add_args(a.get<std::string>()));
    for (const auto& s : doc.at("spans")) {
      Span span;
      span.start_ns = s.at(0).get<std::int64_t>() + shift_ns;
      span.end_ns = s.at(1).get<std::int64_t>() + shift_ns;
      span.step = s.at(2).get<std::int64_t>();
      span.track = track_of(s.at(3).get<std::int64_t>());
      const auto name = s.at(4).get<std::int64_t>();
      if (name < 1 || name > static_cast<std::int64_t>(name_ids.size())) {
        throw Error("rank " + std::to_string(rank) + "'s trace: no name " + std::to_string(name));
      }
      span.name = name_ids[static_cast<std::size_t>(name - 1)];
      const auto args = s.at(5).get<std::int64_t>();
      if (args > 0 && args <= static_cast<std::int64_t>(args_ids.size())) {
        span.args = args_ids[static_cast<std::size_t>(args - 1)];
      }
      const int category = s.at(6).get<int>();
      if (category < 0 || category >= kCategoryCount) {
        throw Error("rank " + std::to_string(rank) + "'s trace: no category " +
                    std::to_string(category));
      }
      span.category = static_cast<Category>(category);
      into.add_span(span);
    }
    for (const auto& c : doc.at("counters")) {
      const std::string name = c.at(0).get<std::string>() + " (rank " + std::to_string(rank) + ")";
      const auto found = into.find_counter(name);
      const CounterId id = found ? *found : into.add_counter(name, c.at(1).get<std::string>());
      for (const auto& p : c.at(2)) {
        into.add_counter_point(id, p.at(0).get<std::int64_t>() + shift_ns, p.at(1).get<double>());
      }
    }
    for (const auto& f : doc.at("flows")) {
      into.add_flow({f.at(0).get<std::uint64_t>(), track_of(f.at(1).get<std::int64_t>()),
                     f.at(2).get<std::int64_t>() + shift_ns, track_of(f.at(3).get<std::int64_t>()),
                     f.at(4).get<std::int64_t>() + shift_ns});
    }
  } catch (const json::exception& e) {
    throw Error("rank " + std::to_string(rank) + "'s trace: " + e.what());
  }
}

}  // namespace tb::trace
