#include "core/run/project.h"

#include "core/run/json_reader.h"

#include "core/data/formats/splits.h"
#include "core/optim/sparse.h"

#include <algorithm>
#include <fstream>
#include <limits>
#include <set>
#include <sstream>

namespace tb::run {
namespace {

using detail::ObjectReader;
using nlohmann::json;

void read_conv_blocks(ObjectReader& model, std::vector<ConvBlockSettings>& blocks,
                      const std::string& source) {
  model.field("conv", [&](const json& v, const std::string& path) {
    if (!v.is_array()) model.fail(path, "expected an array of conv blocks");
    blocks.clear();
    for (std::size_t i = 0; i < v.size(); ++i) {
      ObjectReader block(v[i], path + "[" + std::to_string(i) + "]", source);
      ConvBlockSettings settings;
      block.integer("channels", settings.channels, 1, 4096);
      block.integer("kernel", settings.kernel, 1, 15);
      block.integer("pool", settings.pool, 1, 8);
      block.boolean("batch_norm", settings.batch_norm);
      block.finish();
      if (settings.kernel % 2 == 0) {
        block.fail(
            path + "[" + std::to_string(i) + "].kernel",
            "expected an odd kernel size (same padding), got " + std::to_string(settings.kernel));
      }
      blocks.push_back(settings);
    }
  });
}

// data.loader: workers, prefetch, cache, errors and augmentation of the pipeline.
void read_loader(ObjectReader& data, LoaderSettings& loader, const std::string& source) {
  data.field("loader", [&](const json& v, const std::string& path) {
    ObjectReader section(v, path, source);
    section.string_in("mode", loader.mode, {"batch", "stream"});
    section.integer("shuffle_buffer", loader.shuffle_buffer, 0, std::int64_t{1} << 30);
    section.boolean("dedup", loader.dedup);
    section.integer("workers", loader.workers, 0, 256);
    section.integer("prefetch", loader.prefetch, 1, 1024);
    section.string_in("cache", loader.cache, {"none", "memory", "lmdb"});
    section.integer("cache_mib", loader.cache_mib, 1, std::int64_t{1} << 30);
    section.string("cache_dir", loader.cache_dir);
    section.string_in("on_error", loader.on_error, {"fail", "skip"});
    section.field("augment", [&](const json& a, const std::string& augment_path) {
      ObjectReader augment(a, augment_path, source);
      augment.integer("crop_padding", loader.crop_padding, 0, 1024);
      augment.boolean("flip", loader.flip);
      augment.finish();
    });
    section.finish();
    if (loader.mode == "stream" && loader.workers < 1) {
      section.fail(path + ".workers", "stream mode decodes on worker threads: expected >= 1");
    }
    if (loader.mode == "stream" && loader.cache != "none") {
      section.fail(path + ".cache",
                   "stream mode reads each sample once per pass, and the caches keep samples by "
                   "their position in a set: expected \"none\" (or mode \"batch\")");
    }
  });
}

// data.bow / data.recsys: the generated datasets' settings.
void read_synthetic(ObjectReader& data, DataSettings& settings, const std::string& source) {
  data.field("bow", [&](const json& v, const std::string& path) {
    ObjectReader bow(v, path, source);
    auto& b = settings.bow;
    bow.integer("classes", b.classes, 2, 1000);
    bow.integer("vocabulary", b.vocabulary, 100, 10000000);
    bow.integer("train_samples", b.train_samples, 1, 100000000);
    bow.integer("test_samples", b.test_samples, 1, 100000000);
    bow.integer("min_length", b.min_length, 1, 100000);
    bow.integer("max_length", b.max_length, 1, 100000);
    bow.integer("topic_words", b.topic_words, 1, 10000000);
    bow.number("topic_share", b.topic_share, 0.0, 1.0);
    bow.finish();
    if (b.min_length > b.max_length)
      bow.fail(path + ".min_length",
               "must be <= max_length (" + std::to_string(b.max_length) + ")");
    if (b.topic_words > b.vocabulary - b.vocabulary / 100)
      bow.fail(path + ".topic_words",
               "must be at most 99% of the vocabulary (topics avoid the "
               "most frequent 1% of the words)");
  });
  data.field("recsys", [&](const json& v, const std::string& path) {
    ObjectReader rec(v, path, source);
    auto& r = settings.recsys;
    rec.integer("users", r.users, 1, 100000000);
    rec.integer("items", r.items, 1, 100000000);
    rec.integer("rank", r.rank, 1, 1024);
    rec.integer("train_samples", r.train_samples, 1, 100000000);
    rec.integer("test_samples", r.test_samples, 1, 100000000);
    rec.number("popularity_exponent", r.popularity_exponent, 0.0, 10.0);
    rec.number("sharpness", r.sharpness, 0.0, 1000.0);
    rec.finish();
  });
}

// What fits together across sections: the dataset and the model type; what sparse models support.
void check_combination(const Project& p, const ObjectReader& top) {
  const auto& dataset = p.data.dataset;
  const auto& type = p.model.type;
  const bool dense_data = data::is_dataset_format(dataset);
  const bool dense_model = type == "mlp" || type == "cnn";
  if (dense_data && !dense_model) {
    top.fail("model.type", "'" + type + "' needs sparse data (data.dataset \"synthetic-" + type +
                               "\"); fashion-mnist takes mlp or cnn");
  }
  if (dataset == "synthetic-bow" && type != "bow") {
    top.fail("model.type", "'" + type + "' does not fit data.dataset \"synthetic-bow\" (use bow)");
  }
  if (dataset == "synthetic-recsys" && type != "recsys") {
    top.fail("model.type",
             "'" + type + "' does not fit data.dataset \"synthetic-recsys\" (use recsys)");
  }
  // Parallel training: what the split of the work cannot carry yet.
  const auto& parallel = p.parallel;
  if (parallel.ranks() > 1 && !dense_data) {
    top.fail("parallel", "data." + dataset +
                             " feeds a sparse model, which parallel training does not split yet "
                             "(use a dense dataset format)");
  }
  if (parallel.data > 1 && p.data.loader.mode == "stream") {
    top.fail("data.loader.mode",
             "\"stream\" cannot be split among data-parallel ranks (a stream's order is known "
             "only as it is read); use \"batch\"");
  }
  if (parallel.pipeline.stages > 1 || parallel.tensor > 1) {
    // A rank holds part of the model's tensors (or of its optimizer's state): what needs the
    // whole of them is not there yet.
    const std::string kind = parallel.tensor > 1 ? "parallel.tensor" : "parallel.pipeline";
    if (p.train.checkpoint != "none") {
      top.fail("train.checkpoint",
               "checkpoints of a model split by " + kind + " are not supported yet (use \"none\")");
    }
    if (p.train.clip_grad_norm > 0.0) {
      top.fail("train.clip_grad_norm",
               "clipping a model split by " + kind +
                   " needs the norm over every rank's part, which is not summed yet (use 0)");
    }
    if (p.device != "cpu") {
      top.fail("device", "a model split by " + kind + " trains on the CPU for now (use \"cpu\")");
    }
  }
  if (dense_data) return;
  if (p.device == "cuda") {
    top.fail("device", "data." + dataset +
                           " feeds a sparse model, whose layers run on the CPU only for now (use "
                           "\"cpu\", or \"auto\", which takes the CPU for it)");
  }
  if (p.precision != "fp32") {
    top.fail("precision", "'" + p.precision + "' is not supported with sparse data (" + dataset +
                              ") yet: the sparse products are fp32 (use fp32)");
  }
  if (type == "recsys") {
    if (p.train.clip_grad_norm > 0.0) {
      top.fail("train.clip_grad_norm",
               "clipping is not supported with the row-sparse gradients of Embedding tables");
    }
    const auto problem = optim::check_sparse_spec(p.optimizer);
    if (!problem.field.empty()) top.fail(problem.field, problem.message);
  }
}

}  // namespace

ProjectError::ProjectError(std::string field, const std::string& message)
    : Error(message), field_(std::move(field)) {}

Project Project::from_json(const json& doc, const std::string& source) {
  Project p;
  ObjectReader top(doc, "", source);
  top.string("name", p.name);
  top.field("seed", [&](const json& v, const std::string& path) {
    p.seed = static_cast<std::uint64_t>(
        top.to_integer(v, path, 0, std::numeric_limits<std::int64_t>::max()));
  });
  top.string_in("device", p.device, {"cpu", "cuda", "auto"});
  top.string_in("precision", p.precision, {"fp32", "fp16", "bf16"});
  top.field("parallel", [&](const json& v, const std::string& path) {
    ObjectReader parallel(v, path, source);
    parallel.integer("data", p.parallel.data, 1, 4096);
    parallel.integer("tensor", p.parallel.tensor, 1, 4096);
    parallel.number("bucket_mib", p.parallel.bucket_mib, 0.001, 65536.0);
    parallel.number("timeout_s", p.parallel.timeout_s, 1.0, 86400.0);
    parallel.field("pipeline", [&](const json& pv, const std::string& pipeline_path) {
      ObjectReader pipeline(pv, pipeline_path, source);
      pipeline.integer("stages", p.parallel.pipeline.stages, 1, 4096);
      pipeline.integer("microbatches", p.parallel.pipeline.microbatches, 1, 65536);
      pipeline.string_in("schedule", p.parallel.pipeline.schedule, {"gpipe", "1f1b"});
      pipeline.finish();
    });
    const int kinds =
        (p.parallel.data > 1) + (p.parallel.pipeline.stages > 1) + (p.parallel.tensor > 1);
    if (kinds > 1) {
      parallel.fail(path,
                    "data, pipeline and tensor parallelism cannot be combined yet (set "
                    "one of data, pipeline.stages, tensor above 1)");
    }
    parallel.finish();
  });
  top.field("profile", [&](const json& v, const std::string& path) {
    ObjectReader profile(v, path, source);
    profile.boolean("cupti", p.profile.cupti);
    profile.string_in("flush", p.profile.flush, {"period", "step"});
    profile.field("kinds", [&](const json& kinds, const std::string& kinds_path) {
      if (!kinds.is_array() || kinds.empty()) {
        profile.fail(kinds_path, "expected a non-empty list of " + detail::join(kAllCuptiKinds));
      }
      p.profile.kinds.clear();
      for (std::size_t i = 0; i < kinds.size(); ++i) {
        const std::string at = kinds_path + "[" + std::to_string(i) + "]";
        const auto& kind = kinds[i];
        if (!kind.is_string() || std::find(kAllCuptiKinds.begin(), kAllCuptiKinds.end(),
                                           kind.get<std::string>()) == kAllCuptiKinds.end()) {
          profile.fail(at,
                       "expected one of " + detail::join(kAllCuptiKinds) + ", got " + kind.dump());
        }
        if (std::find(p.profile.kinds.begin(), p.profile.kinds.end(), kind.get<std::string>()) !=
            p.profile.kinds.end()) {
          profile.fail(at, "'" + kind.get<std::string>() + "' is listed twice");
        }
        p.profile.kinds.push_back(kind.get<std::string>());
      }
    });
    profile.finish();
  });
  top.field("amp", [&](const json& v, const std::string& path) {
    ObjectReader amp(v, path, source);
    constexpr double float_max = std::numeric_limits<float>::max();
    amp.number("init_scale", p.amp.init_scale, 0.0, float_max);
    amp.number("growth_factor", p.amp.growth_factor, 1.0, float_max);
    amp.number("backoff_factor", p.amp.backoff_factor, 0.0, 1.0, true);
    amp.integer("growth_interval", p.amp.growth_interval, 1);
    amp.finish();
    // The open ends the range checks above cannot say (> 0, > 1): the scaler's own rules.
    if (!(p.amp.init_scale > 0.0)) amp.fail(path + ".init_scale", "expected a number > 0");
    if (!(p.amp.growth_factor > 1.0)) amp.fail(path + ".growth_factor", "expected a number > 1");
    if (!(p.amp.backoff_factor > 0.0)) amp.fail(path + ".backoff_factor", "expected a number > 0");
  });
  top.field("data", [&](const json& v, const std::string& path) {
    ObjectReader data(v, path, source);
    std::vector<std::string> datasets = data::dataset_formats();
    datasets.insert(datasets.end(), {"synthetic-bow", "synthetic-recsys"});
    data.string_in("dataset", p.data.dataset, datasets);
    data.string("path", p.data.path);
    data.field("options", [&](const json& o, const std::string& options_path) {
      if (!o.is_object()) data.fail(options_path, "expected an object, got " + o.dump());
      p.data.options = o;
    });
    data.integer("batch_size", p.data.batch_size, 1, 1 << 20);
    data.boolean("shuffle", p.data.shuffle);
    data.integer("train_limit", p.data.train_limit, 0);
    data.integer("test_limit", p.data.test_limit, 0);
    read_synthetic(data, p.data, source);
    read_loader(data, p.data.loader, source);
    data.finish();
    const bool synthetic = !data::is_dataset_format(p.data.dataset);
    if (!synthetic && p.data.dataset != "fashion-mnist" && p.data.path.empty()) {
      data.fail(path + ".path", "data.dataset \"" + p.data.dataset +
                                    "\" needs the folder that holds its train and test splits");
    }
    if (synthetic && v.contains("options")) {
      data.fail(path + ".options",
                "generated datasets take their settings in data." +
                    std::string(p.data.dataset == "synthetic-bow" ? "bow" : "recsys"));
    }
    if (synthetic) {
      const char* section = p.data.dataset == "synthetic-bow" ? "bow" : "recsys";
      if (v.contains("path")) data.fail(path + ".path", "a generated dataset reads no files");
      for (const char* key : {"train_limit", "test_limit"}) {
        if (v.contains(key)) {
          data.fail(path + "." + key, std::string("a generated dataset has no limit: set ") + path +
                                          "." + section + ".train_samples / test_samples");
        }
      }
    }
    if (synthetic && v.contains("loader")) {
      data.fail(path + ".loader",
                "generated datasets are made in memory; the loader section is "
                "for datasets in files");
    }
    if (v.contains("bow") && p.data.dataset != "synthetic-bow")
      data.fail(path + ".bow", "needs data.dataset \"synthetic-bow\"");
    if (v.contains("recsys") && p.data.dataset != "synthetic-recsys")
      data.fail(path + ".recsys", "needs data.dataset \"synthetic-recsys\"");
  });
  top.field("model", [&](const json& v, const std::string& path) {
    ObjectReader model(v, path, source);
    model.string_in("type", p.model.type, {"mlp", "cnn", "bow", "recsys"});
    model.field("hidden", [&](const json& h, const std::string& hpath) {
      if (!h.is_array()) model.fail(hpath, "expected an array of layer sizes, e.g. [256, 128]");
      p.model.hidden.clear();
      for (std::size_t i = 0; i < h.size(); ++i) {
        p.model.hidden.push_back(
            model.to_integer(h[i], hpath + "[" + std::to_string(i) + "]", 1, 1 << 20));
      }
    });
    read_conv_blocks(model, p.model.conv, source);
    model.number("dropout", p.model.dropout, 0.0, 1.0, true);
    model.integer("embedding_dim", p.model.embedding_dim, 1, 4096);
    model.finish();
    if (v.contains("embedding_dim") && p.model.type != "recsys")
      model.fail(path + ".embedding_dim", "needs model.type \"recsys\"");
    const bool sparse_model = p.model.type == "bow" || p.model.type == "recsys";
    if (sparse_model && p.model.dropout > 0.0)
      model.fail(path + ".dropout", "model.type \"" + p.model.type + "\" has no dropout yet");
    if (p.model.type == "cnn" && p.model.conv.empty()) {
      model.fail(path + ".conv", "a cnn needs at least one conv block");
    }
    if (p.model.type == "mlp" && !p.model.conv.empty()) {
      model.fail(path + ".conv", "conv blocks need model.type \"cnn\"");
    }
  });
  top.field("optimizer", [&](const json& v, const std::string& path) {
    p.optimizer = detail::read_optimizer(v, path, source);
  });
  top.field("schedule", [&](const json& v, const std::string& path) {
    p.schedule = detail::read_schedule(v, path, source);
  });
  top.field("train", [&](const json& v, const std::string& path) {
    ObjectReader train(v, path, source);
    train.integer("epochs", p.train.epochs, 1, 100000);
    train.integer("max_steps", p.train.max_steps, 0);
    train.integer("threads", p.train.threads, 1, 256);
    train.integer("eval_batch_size", p.train.eval_batch_size, 1, 1 << 20);
    train.number("clip_grad_norm", p.train.clip_grad_norm, 0.0, 1e9);
    train.string_in("checkpoint", p.train.checkpoint, {"none", "end", "epoch"});
    train.finish();
  });
  top.finish();
  check_combination(p, top);
  return p;
}

Project Project::load(const std::filesystem::path& file,
                      const std::vector<std::string>& overrides) {
  std::ifstream in(file);
  if (!in) throw ProjectError("", file.string() + ": cannot open the project file");
  std::stringstream text;
  text << in.rdbuf();
  json doc = json::parse(text.str(), nullptr, false);
  if (doc.is_discarded()) {
    // Parse again with exceptions on, for the byte offset of the error.
    try {
      doc = json::parse(text.str());
    } catch (const json::parse_error& e) {
      throw ProjectError("", file.string() + ": not valid JSON at byte " + std::to_string(e.byte) +
                                 ": " + e.what());
    }
  }
  for (const auto& assignment : overrides) apply_override(doc, assignment);
  return from_json(doc, file.filename().string());
}

json Project::to_json() const {
  json conv = json::array();
  for (const auto& block : model.conv) {
    conv.push_back({{"channels", block.channels},
                    {"kernel", block.kernel},
                    {"pool", block.pool},
                    {"batch_norm", block.batch_norm}});
  }
  json model_json = {{"type", model.type}, {"hidden", model.hidden}, {"dropout", model.dropout}};
  if (model.type == "cnn") model_json["conv"] = conv;
  if (model.type == "recsys") model_json["embedding_dim"] = model.embedding_dim;
  json data_json = {{"dataset", data.dataset},         {"path", data.path},
                    {"batch_size", data.batch_size},   {"shuffle", data.shuffle},
                    {"train_limit", data.train_limit}, {"test_limit", data.test_limit}};
  const auto& loader = data.loader;
  data_json["loader"] = {
      {"mode", loader.mode},
      {"shuffle_buffer", loader.shuffle_buffer},
      {"dedup", loader.dedup},
      {"workers", loader.workers},
      {"prefetch", loader.prefetch},
      {"cache", loader.cache},
      {"cache_mib", loader.cache_mib},
      {"cache_dir", loader.cache_dir},
      {"on_error", loader.on_error},
      {"augment", {{"crop_padding", loader.crop_padding}, {"flip", loader.flip}}}};
  if (!data.options.empty()) data_json["options"] = data.options;
  if (!data::is_dataset_format(data.dataset)) {
    data_json.erase("loader");
    data_json.erase("path");
    data_json.erase("train_limit");
    data_json.erase("test_limit");
  }
  if (data.dataset == "synthetic-bow") {
    data_json["bow"] = {{"classes", data.bow.classes},
                        {"vocabulary", data.bow.vocabulary},
                        {"train_samples", data.bow.train_samples},
                        {"test_samples", data.bow.test_samples},
                        {"min_length", data.bow.min_length},
                        {"max_length", data.bow.max_length},
                        {"topic_words", data.bow.topic_words},
                        {"topic_share", data.bow.topic_share}};
  }
  if (data.dataset == "synthetic-recsys") {
    data_json["recsys"] = {{"users", data.recsys.users},
                           {"items", data.recsys.items},
                           {"rank", data.recsys.rank},
                           {"train_samples", data.recsys.train_samples},
                           {"test_samples", data.recsys.test_samples},
                           {"popularity_exponent", data.recsys.popularity_exponent},
                           {"sharpness", data.recsys.sharpness}};
  }
  return {
      {"name", name},
      {"seed", seed},
      {"device", device},
      {"precision", precision},
      {"amp",
       {{"init_scale", amp.init_scale},
        {"growth_factor", amp.growth_factor},
        {"backoff_factor", amp.backoff_factor},
        {"growth_interval", amp.growth_interval}}},
      {"data", data_json},
      {"model", model_json},
      {"optimizer", detail::optimizer_to_json(optimizer)},
      {"schedule", detail::schedule_to_json(schedule)},
      {"train",
       {{"epochs", train.epochs},
        {"max_steps", train.max_steps},
        {"threads", train.threads},
        {"eval_batch_size", train.eval_batch_size},
        {"clip_grad_norm", train.clip_grad_norm},
        {"checkpoint", train.checkpoint}}},
      {"profile", {{"cupti", profile.cupti}, {"kinds", profile.kinds}, {"flush", profile.flush}}},
      {"parallel",
       {{"data", parallel.data},
        {"pipeline",
         {{"stages", parallel.pipeline.stages},
          {"microbatches", parallel.pipeline.microbatches},
          {"schedule", parallel.pipeline.schedule}}},
        {"tensor", parallel.tensor},
        {"bucket_mib", parallel.bucket_mib},
        {"timeout_s", parallel.timeout_s}}},
  };
}

void apply_override(json& doc, std::string_view assignment) {
  const auto eq = assignment.find('=');
  if (eq == std::string_view::npos || eq == 0) {
    throw ProjectError("", "--set " + std::string(assignment) +
                               ": expected dotted.key=value, e.g. optimizer.lr=0.1");
  }
  const std::string key(assignment.substr(0, eq));
  const std::string value(assignment.substr(eq + 1));
  if (!doc.is_object()) doc = json::object();
  json* node = &doc;
  std::stringstream parts(key);
  std::string part;
  std::vector<std::string> path;
  while (std::getline(parts, part, '.')) path.push_back(part);
  for (std::size_t i = 0; i < path.size(); ++i) {
    if (path[i].empty()) throw ProjectError(key, "--set " + key + ": empty key component");
    if (i + 1 == path.size()) break;
    json& child = (*node)[path[i]];
    if (child.is_null()) child = json::object();
    if (!child.is_object()) {
      throw ProjectError(key, "--set " + key + ": '" + path[i] + "' is not an object");
    }
    node = &child;
  }
  json parsed = json::parse(value, nullptr, false);
  (*node)[path.back()] = parsed.is_discarded() ? json(value) : parsed;
}

std::vector<std::pair<std::string, std::string>> flatten(const json& doc) {
  std::vector<std::pair<std::string, std::string>> out;
  auto walk = [&](auto&& self, const json& node, const std::string& prefix) -> void {
    if (node.is_object() && !node.empty()) {
      for (const auto& [key, value] : node.items()) {
        self(self, value, prefix.empty() ? key : prefix + "." + key);
      }
      return;
    }
    out.emplace_back(prefix, node.is_string() ? node.get<std::string>() : node.dump());
  };
  walk(walk, doc, "");
  return out;
}

}  // namespace tb::run
