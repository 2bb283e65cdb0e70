// The project file's `optimizer` and `schedule` sections.
#include <map>
#include <set>

#include "core/run/json_reader.h"

namespace tb::run::detail {
namespace {

// The settings each optimizer type takes besides type, lr, weight_decay, lookahead and
// param_groups. A key of another type is an error: "momentum" on adam is a typo, not a default.
const std::map<std::string, std::vector<std::string>>& type_keys() {
  static const std::map<std::string, std::vector<std::string>> keys = {
      {"sgd", {"momentum", "dampening", "nesterov"}},
      {"adam", {"betas", "eps", "amsgrad"}},
      {"adamw", {"betas", "eps", "amsgrad"}},
      {"rmsprop", {"alpha", "eps", "momentum", "centered"}},
      {"lion", {"betas"}},
  };
  return keys;
}

// PyTorch's defaults for each type (SGD's lr and momentum are this project's: torch has none).
optim::OptimizerSpec defaults_for(const std::string& type) {
  optim::OptimizerSpec spec;
  spec.type = type;
  if (type == "sgd") {
    spec.lr = 0.05;
    spec.momentum = 0.9;
  } else if (type == "adam" || type == "adamw") {
    spec.lr = 1e-3;
    spec.weight_decay = type == "adamw" ? 1e-2 : 0.0;
  } else if (type == "rmsprop") {
    spec.lr = 1e-2;
    spec.momentum = 0.0;
  } else if (type == "lion") {
    spec.lr = 1e-4;
    spec.beta2 = 0.99;
  }
  return spec;
}

bool uses(const std::string& type, const std::string& key) {
  const auto& keys = type_keys().at(type);
  return std::find(keys.begin(), keys.end(), key) != keys.end();
}

}  // namespace

optim::OptimizerSpec read_optimizer(const json& section, const std::string& path,
                                    const std::string& source) {
  std::string type = "sgd";
  {
    ObjectReader peek(section, path, source);
    peek.string_in("type", type, {"sgd", "adam", "adamw", "rmsprop", "lion"});
  }
  optim::OptimizerSpec spec = defaults_for(type);
  ObjectReader opt(section, path, source);
  opt.string_in("type", spec.type, {"sgd", "adam", "adamw", "rmsprop", "lion"});
  opt.number("lr", spec.lr, 0.0, 1e3);
  opt.number("weight_decay", spec.weight_decay, 0.0, 1.0);
  std::set<std::string> every;
  for (const auto& [t, keys] : type_keys()) every.insert(keys.begin(), keys.end());
  for (const auto& [key, value] : section.items()) {
    if (every.count(key) && !uses(type, key)) {
      opt.fail(path + "." + key, "is not a setting of " + type + " (its settings: type, lr, " +
                                     "weight_decay, " + join(type_keys().at(type)) +
                                     ", lookahead, param_groups)");
    }
  }
  if (uses(type, "momentum")) opt.number("momentum", spec.momentum, 0.0, 1.0, true);
  if (uses(type, "dampening")) opt.number("dampening", spec.dampening, 0.0, 1.0);
  if (uses(type, "nesterov")) opt.boolean("nesterov", spec.nesterov);
  if (uses(type, "eps")) opt.number("eps", spec.eps, 0.0, 1.0);
  if (uses(type, "amsgrad")) opt.boolean("amsgrad", spec.amsgrad);
  if (uses(type, "alpha")) opt.number("alpha", spec.alpha, 0.0, 1.0, true);
  if (uses(type, "centered")) opt.boolean("centered", spec.centered);
  if (uses(type, "betas")) {
    opt.field("betas", [&](const json& v, const std::string& bpath) {
      if (!v.is_array() || v.size() != 2 || !v[0].is_number() || !v[1].is_number()) {
        opt.fail(bpath, "expected two numbers [beta1, beta2], got " + ObjectReader::describe(v));
      }
      for (std::size_t i = 0; i < 2; ++i) {
        const double b = v[i].get<double>();
        if (!(b >= 0.0 && b < 1.0)) {
          opt.fail(bpath + "[" + std::to_string(i) + "]",
                   "each beta must be in [0, 1), got " + v[i].dump());
        }
      }
      spec.beta1 = v[0].get<double>();
      spec.beta2 = v[1].get<double>();
    });
  }
  opt.field("lookahead", [&](const json& v, const std::string& lpath) {
    ObjectReader lookahead(v, lpath, source);
    spec.lookahead.k = 5;
    lookahead.integer("k", spec.lookahead.k, 1, 1000000);
    lookahead.number("alpha", spec.lookahead.alpha, 0.0, 1.0);
    lookahead.finish();
    if (spec.lookahead.alpha <= 0.0) lookahead.fail(lpath + ".alpha", "must be > 0");
  });
  opt.field("param_groups", [&](const json& v, const std::string& gpath) {
    if (!v.is_array())
      opt.fail(gpath, "expected an array of {\"match\", \"lr\", \"weight_decay\"}");
    for (std::size_t i = 0; i < v.size(); ++i) {
      const std::string item = gpath + "[" + std::to_string(i) + "]";
      ObjectReader group(v[i], item, source);
      optim::ParamGroupSpec g;
      group.string("match", g.match);
      group.field("lr", [&](const json& x, const std::string& f) {
        if (!x.is_number() || x.get<double>() < 0) group.fail(f, "expected a number >= 0");
        g.lr = x.get<double>();
      });
      group.field("weight_decay", [&](const json& x, const std::string& f) {
        if (!x.is_number() || x.get<double>() < 0 || x.get<double>() > 1) {
          group.fail(f, "expected a number in [0, 1]");
        }
        g.weight_decay = x.get<double>();
      });
      group.finish();
      if (g.match.empty()) group.fail(item + ".match", "expected a non-empty parameter name part");
      spec.param_groups.push_back(g);
    }
  });
  opt.finish();
  if (spec.nesterov && (spec.momentum <= 0.0 || spec.dampening != 0.0)) {
    opt.fail(path + ".nesterov", "Nesterov momentum needs momentum > 0 and dampening 0");
  }
  return spec;
}

json optimizer_to_json(const optim::OptimizerSpec& spec) {
  json out = {{"type", spec.type}, {"lr", spec.lr}, {"weight_decay", spec.weight_decay}};
  const auto& type = spec.type;
  if (uses(type, "momentum")) out["momentum"] = spec.momentum;
  if (uses(type, "dampening")) out["dampening"] = spec.dampening;
  if (uses(type, "nesterov")) out["nesterov"] = spec.nesterov;
  if (uses(type, "betas")) out["betas"] = {spec.beta1, spec.beta2};
  if (uses(type, "eps")) out["eps"] = spec.eps;
  if (uses(type, "amsgrad")) out["amsgrad"] = spec.amsgrad;
  if (uses(type, "alpha")) out["alpha"] = spec.alpha;
  if (uses(type, "centered")) out["centered"] = spec.centered;
  if (spec.lookahead.k > 0)
    out["lookahead"] = {{"k", spec.lookahead.k}, {"alpha", spec.lookahead.alpha}};
  if (!spec.param_groups.empty()) {
    json groups = json::array();
    for (const auto& g : spec.param_groups) {
      json item = {{"match", g.match}};
      if (g.lr) item["lr"] = *g.lr;
      if (g.weight_decay) item["weight_decay"] = *g.weight_decay;
      groups.push_back(item);
    }
    out["param_groups"] = groups;
  }
  return out;
}

optim::ScheduleSpec read_schedule(const json& section, const std::string& path,
                                  const std::string& source) {
  optim::ScheduleSpec spec;
  ObjectReader reader(section, path, source);
  reader.string_in("type", spec.type, {"constant", "step", "cosine", "onecycle"});
  const auto& t = spec.type;
  if (t == "step") {
    reader.integer("step_size", spec.step_size, 1);
    reader.number("gamma", spec.gamma, 0.0, 1.0);
  } else if (t == "cosine") {
    reader.integer("warmup_steps", spec.warmup_steps, 0);
    reader.number("min_factor", spec.min_factor, 0.0, 1.0);
  } else if (t == "onecycle") {
    reader.number("pct_start", spec.pct_start, 0.0, 1.0);
    reader.number("div_factor", spec.div_factor, 1.0, 1e9);
    reader.number("final_div_factor", spec.final_div_factor, 1.0, 1e12);
  }
  reader.finish();
  if (t == "step" && spec.gamma <= 0.0) reader.fail(path + ".gamma", "must be in (0, 1]");
  if (t == "onecycle" && (spec.pct_start <= 0.0 || spec.pct_start >= 1.0)) {
    reader.fail(path + ".pct_start", "must be in (0, 1)");
  }
  return spec;
}

json schedule_to_json(const optim::ScheduleSpec& spec) {
  json out = {{"type", spec.type}};
  if (spec.type == "step") {
    out["step_size"] = spec.step_size;
    out["gamma"] = spec.gamma;
  } else if (spec.type == "cosine") {
    out["warmup_steps"] = spec.warmup_steps;
    out["min_factor"] = spec.min_factor;
  } else if (spec.type == "onecycle") {
    out["pct_start"] = spec.pct_start;
    out["div_factor"] = spec.div_factor;
    out["final_div_factor"] = spec.final_div_factor;
  }
  return out;
}

}  // namespace tb::run::detail
