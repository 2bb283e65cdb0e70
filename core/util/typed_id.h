// Typed integer ids, so a session id can never be passed where a step or a track is expected.
#pragma once

#include <compare>
#include <cstdint>
#include <functional>

namespace tb {

template <typename Tag>
struct TypedId {
  std::int64_t value = 0;

  constexpr TypedId() = default;
  constexpr explicit TypedId(std::int64_t v) : value(v) {}
  constexpr bool valid() const { return value > 0; }
  constexpr auto operator<=>(const TypedId&) const = default;
};

}  // namespace tb

template <typename Tag>
struct std::hash<tb::TypedId<Tag>> {
  std::size_t operator()(const tb::TypedId<Tag>& id) const noexcept {
    return std::hash<std::int64_t>{}(id.value);
  }
};
