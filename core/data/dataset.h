// In-memory labelled datasets, and Fashion-MNIST read from its IDX files.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "core/data/idx.h"
#include "core/tensor/tensor.h"

namespace tb::data {

struct InMemoryDataset {
  std::string name;
  tensor::Shape sample_shape;  // one sample: [1, 28, 28]
  std::int64_t classes = 0;
  std::vector<std::string> class_names;
  std::vector<float> features;  // size() * sample_shape.numel(), normalised
  // Features are (raw - raw_mean) / raw_std, raw in the source's own unit (a pixel's 0..1): a
  // difference of features times raw_std is a difference in raw units, and a feature times
  // raw_std plus raw_mean is the raw value (to draw a sample as the image it was).
  float raw_mean = 0.0f;
  float raw_std = 1.0f;
  std::vector<std::int32_t> labels;  // size(), each in [0, classes)
  // "crc32:xxxxxxxx" of the source files' decoded bytes (images then labels, all samples, before
  // any limit): stored with each session, so two runs can be checked to have seen the same data.
  std::string fingerprint;

  std::int64_t size() const { return static_cast<std::int64_t>(labels.size()); }
  std::int64_t sample_numel() const { return sample_shape.numel(); }
};

struct TrainTestSplit {
  InMemoryDataset train;
  InMemoryDataset test;
};

// /usr/share/datasets/fashion-mnist, where Debian's dataset-fashion-mnist installs it.
std::filesystem::path default_fashion_mnist_dir();

// Fashion-MNIST's normalisation, (x / 255 - mean) / std, and its ten class names: shared by the
// IDX reader and the shard packer, so a packed copy trains bit for bit as the IDX files do.
inline constexpr float kFashionMnistScale = 255.0f;
inline constexpr float kFashionMnistMean = 0.2860f;
inline constexpr float kFashionMnistStd = 0.3530f;
const std::vector<std::string>& fashion_mnist_class_names();

// dir/STEM.gz or dir/STEM; throws tb::FormatError naming both when neither exists.
std::filesystem::path find_fashion_mnist_file(const std::filesystem::path& dir,
                                              const std::string& stem);

// One split's raw IDX arrays (prefix "train" or "t10k"), checked: images and labels agree in count
// and the first `count` labels are in 0..9 (tb::FormatError naming the file and byte otherwise).
// count is the split's size, or limit when 0 < limit < size. What the in-memory loader and the
// shard packer both start from.
struct FashionMnistIdx {
  IdxArray images, labels;
  std::filesystem::path image_file, label_file;
  std::int64_t count = 0;
};
FashionMnistIdx read_fashion_mnist_idx(const std::filesystem::path& dir, const std::string& prefix,
                                       std::int64_t limit);
// "crc32:xxxxxxxx" of the split's image then label bytes (all samples, before any limit).
std::string fashion_mnist_fingerprint(const FashionMnistIdx& idx);

// Reads train-images-idx3-ubyte(.gz), train-labels-idx1-ubyte(.gz), t10k-... from dir (empty:
// the default folder); keeps the first train_limit / test_limit samples when > 0. Pixels become
// (x / 255 - 0.2860) / 0.3530, the training set's mean and deviation. Throws tb::FormatError on a
// missing or malformed file, or images and labels that disagree in count.
TrainTestSplit load_fashion_mnist(const std::filesystem::path& dir, std::int64_t train_limit = 0,
                                  std::int64_t test_limit = 0);

}  // namespace tb::data
