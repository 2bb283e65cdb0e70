// Checkpoints of a session: model parameters and optimizer state, as float32 blobs.
#include <cstring>

#include "core/store/session_store.h"
#include "core/store/statement.h"

namespace tb::store {

using detail::Statement;
using detail::Transaction;

void SessionStore::save_checkpoint(SessionId id, const Checkpoint& checkpoint) {
  const std::string what = "saving the checkpoint of session " + std::to_string(id.value) +
                           " at step " + std::to_string(checkpoint.step);
  Transaction transaction(db_, path_, what);
  Statement erase(db_, path_, "DELETE FROM checkpoints WHERE session_id = ?1 AND step = ?2", what);
  erase.bind_int(1, id.value);
  erase.bind_int(2, checkpoint.step);
  erase.run();
  Statement head(db_, path_,
                 "INSERT INTO checkpoints (session_id, step, optimizer_step, created) VALUES "
                 "(?1, ?2, ?3, strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))",
                 what);
  head.bind_int(1, id.value);
  head.bind_int(2, checkpoint.step);
  head.bind_int(3, checkpoint.optimizer_step);
  head.run();
  Statement insert(db_, path_,
                   "INSERT INTO checkpoint_tensors (session_id, step, name, data) VALUES "
                   "(?1, ?2, ?3, ?4)",
                   what);
  insert.bind_int(1, id.value);
  insert.bind_int(2, checkpoint.step);
  for (const auto& tensor : checkpoint.tensors) {
    insert.bind_text(3, tensor.name);
    insert.bind_blob(4, tensor.values.data(), tensor.values.size() * sizeof(float));
    insert.run();
  }
  transaction.commit();
}

std::vector<std::int64_t> SessionStore::checkpoint_steps(SessionId id) const {
  Statement query(db_, path_, "SELECT step FROM checkpoints WHERE session_id = ?1 ORDER BY step",
                  "listing the checkpoints of session " + std::to_string(id.value));
  query.bind_int(1, id.value);
  std::vector<std::int64_t> steps;
  while (query.step()) steps.push_back(query.column_int(0));
  return steps;
}

std::optional<Checkpoint> SessionStore::checkpoint(SessionId id, std::int64_t step) const {
  const std::string what = "reading the checkpoint of session " + std::to_string(id.value);
  Statement head(db_, path_,
                 step < 0 ? "SELECT step, optimizer_step FROM checkpoints WHERE session_id = ?1 "
                            "ORDER BY step DESC LIMIT 1"
                          : "SELECT step, optimizer_step FROM checkpoints WHERE session_id = ?1 "
                            "AND step = ?2",
                 what);
  head.bind_int(1, id.value);
  if (step >= 0) head.bind_int(2, step);
  if (!head.step()) return std::nullopt;
  Checkpoint checkpoint;
  checkpoint.step = head.column_int(0);
  checkpoint.optimizer_step = head.column_int(1);
  Statement tensors(db_, path_,
                    "SELECT name, data FROM checkpoint_tensors WHERE session_id = ?1 AND step = ?2 "
                    "ORDER BY rowid",
                    what);
  tensors.bind_int(1, id.value);
  tensors.bind_int(2, checkpoint.step);
  while (tensors.step()) {
    CheckpointTensor tensor;
    tensor.name = tensors.column_text(0);
    const auto bytes = tensors.column_bytes(1);
    if (bytes % sizeof(float) != 0) {
      throw StoreError(path_.string() + ": " + what + ": tensor '" + tensor.name + "' holds " +
                       std::to_string(bytes) + " bytes, not a whole number of float32 values");
    }
    tensor.values.resize(bytes / sizeof(float));
    if (bytes) std::memcpy(tensor.values.data(), tensors.column_blob(1), bytes);
    checkpoint.tensors.push_back(std::move(tensor));
  }
  return checkpoint;
}

}  // namespace tb::store
