// A Fashion-MNIST split (its IDX image and label files) as a RecordSet: u8 [1, 28, 28] samples,
// keys = sample indices, the dataset's normalisation and class names in the metadata. The files
// are read into memory once; readers share them.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

#include "core/data/record_set.h"

namespace tb::data {

// prefix "train" or "t10k"; dir empty: the system's copy; limit > 0 keeps the first `limit`
// samples. Throws tb::FormatError as read_fashion_mnist_idx does.
std::shared_ptr<const RecordSet> fashion_mnist_record_set(const std::filesystem::path& dir,
                                                          const std::string& prefix,
                                                          std::int64_t limit = 0);

}  // namespace tb::data
