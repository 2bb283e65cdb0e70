#include "core/data/formats/fashion_mnist.h"

#include <span>
#include <utility>

#include "core/data/dataset.h"
#include "core/util/error.h"

namespace tb::data {
namespace {

class FashionMnistSet final : public RecordSet {
 public:
  FashionMnistSet(const std::filesystem::path& dir, const std::string& prefix, std::int64_t limit)
      : name_("fashion-mnist/" + prefix),
        idx_(
            read_fashion_mnist_idx(dir.empty() ? default_fashion_mnist_dir() : dir, prefix, limit)),
        fingerprint_(fashion_mnist_fingerprint(idx_)) {
    spec_.dtype = shard::SampleDType::u8;
    spec_.shape = {1, idx_.images.dims[1], idx_.images.dims[2]};
  }
  std::string name() const override { return name_; }
  SampleSpec spec() const override { return spec_; }
  nlohmann::json metadata() const override {
    return {
        {"name", name_},
        {"classes", 10},
        {"class_names", fashion_mnist_class_names()},
        {"normalize",
         {{"scale", kFashionMnistScale}, {"mean", kFashionMnistMean}, {"std", kFashionMnistStd}}}};
  }
  std::uint64_t size() const override { return static_cast<std::uint64_t>(idx_.count); }
  std::string fingerprint() const override { return fingerprint_; }
  std::unique_ptr<RecordReader> open_reader() const override {
    return std::make_unique<Reader>(*this);
  }

 private:
  class Reader final : public RecordReader {
   public:
    explicit Reader(const FashionMnistSet& set) : set_(set) {}
    RecordRef read(std::uint64_t position) override {
      if (position >= set_.size()) {
        throw FormatError(set_.idx_.image_file.string() + ": no sample " +
                          std::to_string(position) + " (the split holds " +
                          std::to_string(set_.size()) + ")");
      }
      const std::size_t bytes = set_.spec_.payload_bytes();
      return {position, set_.idx_.labels.values[position],
              std::as_bytes(std::span(set_.idx_.images.values)).subspan(position * bytes, bytes)};
    }

   private:
    const FashionMnistSet& set_;
  };

  std::string name_;
  FashionMnistIdx idx_;
  std::string fingerprint_;
  SampleSpec spec_;
};

}  // namespace

std::shared_ptr<const RecordSet> fashion_mnist_record_set(const std::filesystem::path& dir,
                                                          const std::string& prefix,
                                                          std::int64_t limit) {
  return std::make_shared<FashionMnistSet>(dir, prefix, limit);
}

}  // namespace tb::data
