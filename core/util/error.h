// Errors the engine reports to its callers: always a message a user can act on, naming the file,
// field or offset involved and what was expected there.
#pragma once

#include <stdexcept>
#include <string>

namespace tb {

// Base of every error thrown by core/. Callers (CLI, GUI) show what() as one line.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A file that could not be read or is not what it claims to be. The message names the file and,
// where it applies, the byte offset and what was expected there.
class FormatError : public Error {
 public:
  using Error::Error;
};

}  // namespace tb
