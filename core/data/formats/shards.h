// The project's own shard format (data/shard_*.h) as a RecordSet: positions are the records in
// key order; each reader opens the shard files again (its own handles, read window and zstd
// context), so workers read in parallel without sharing a lock.
#pragma once

#include <filesystem>
#include <memory>

#include "core/data/record_set.h"

namespace tb::data {

// `path` is a .tbs file or a folder of them. Throws tb::FormatError as ShardSet::open does, and
// when the metadata is not a JSON object.
std::shared_ptr<const RecordSet> open_shard_record_set(const std::filesystem::path& path);

}  // namespace tb::data
