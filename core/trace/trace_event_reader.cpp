#include "core/trace/trace_event_reader.h"

#include <istream>
#include <limits>
#include <utility>
#include <vector>

#include "core/util/error.h"
#include "core/util/gzip_streambuf.h"

namespace tb::trace {
namespace {

using json = nlohmann::json;
using ordered_json = nlohmann::ordered_json;

constexpr std::int64_t kMaxInt64 = std::numeric_limits<std::int64_t>::max();

// A scalar as the SAX parser reports it. Floats keep the text they were written as, so times
// can be converted from the decimal digits rather than from a rounded double.
struct Scalar {
  enum class Kind { null, boolean, integer, unsigned_integer, floating, string };
  Kind kind = Kind::null;
  bool boolean = false;
  std::int64_t integer = 0;
  std::uint64_t unsigned_integer = 0;
  double floating = 0.0;
  std::string text;  // a string's value, or a float's text as written

  const char* kind_name() const {
    switch (kind) {
      case Kind::null:
        return "null";
      case Kind::boolean:
        return "boolean";
      case Kind::string:
        return "string";
      default:
        return "number";
    }
  }
};

template <typename Json>
Json to_json(Scalar&& s) {
  switch (s.kind) {
    case Scalar::Kind::null:
      return nullptr;
    case Scalar::Kind::boolean:
      return s.boolean;
    case Scalar::Kind::integer:
      return s.integer;
    case Scalar::Kind::unsigned_integer:
      return s.unsigned_integer;
    case Scalar::Kind::floating:
      return s.floating;
    case Scalar::Kind::string:
      return std::move(s.text);
  }
  return nullptr;
}

// Builds one JSON value from SAX events: the parts of a trace kept whole (an event's args, a
// top-level member such as deviceProperties).
template <typename Json>
class ValueBuilder {
 public:
  bool active() const { return !open_.empty(); }
  void start(bool object) {
    value_ = object ? Json::object() : Json::array();
    open_.assign(1, &value_);
  }
  void key(std::string key) { key_ = std::move(key); }
  void scalar(Json value) { place(std::move(value)); }
  void open(bool object) { open_.push_back(place(object ? Json::object() : Json::array())); }
  // Closes the innermost open container; true when that was the value itself.
  bool close() {
    open_.pop_back();
    return open_.empty();
  }
  Json take() { return std::move(value_); }

 private:
  // Pointers to open containers stay valid: a container only grows while it is the innermost
  // open one, and then none of its children is open.
  Json* place(Json value) {
    Json& parent = *open_.back();
    if (parent.is_array()) {
      parent.push_back(std::move(value));
      return &parent.back();
    }
    Json& slot = parent[key_];
    slot = std::move(value);
    return &slot;
  }

  Json value_;
  std::vector<Json*> open_;
  std::string key_;
};

bool is_integer_text(const std::string& text) {
  std::size_t i = (!text.empty() && text[0] == '-') ? 1 : 0;
  if (i == text.size()) return false;
  for (; i < text.size(); ++i) {
    if (text[i] < '0' || text[i] > '9') return false;
  }
  return true;
}

// pid, tid and flow ids as text: 25738 and "25738" alike.
std::string id_text(Scalar&& s, bool* is_number) {
  bool number = false;
  std::string text;
  switch (s.kind) {
    case Scalar::Kind::integer:
      text = std::to_string(s.integer), number = true;
      break;
    case Scalar::Kind::unsigned_integer:
      text = std::to_string(s.unsigned_integer), number = true;
      break;
    case Scalar::Kind::floating:
      text = std::move(s.text);
      break;
    case Scalar::Kind::string:
      number = is_integer_text(s.text);
      text = std::move(s.text);
      break;
    default:
      break;
  }
  if (is_number != nullptr) *is_number = number;
  return text;
}

EventTime to_time(const Scalar& s) {
  EventTime time;
  time.present = true;
  std::optional<std::int64_t> ns;
  switch (s.kind) {
    case Scalar::Kind::integer:
      if (s.integer <= kMaxInt64 / 1000 && s.integer >= -kMaxInt64 / 1000) ns = s.integer * 1000;
      break;
    case Scalar::Kind::unsigned_integer:
      if (s.unsigned_integer <= static_cast<std::uint64_t>(kMaxInt64 / 1000)) {
        ns = static_cast<std::int64_t>(s.unsigned_integer) * 1000;
      }
      break;
    case Scalar::Kind::floating:
    case Scalar::Kind::string:
      ns = micros_text_to_ns(s.text);
      break;
    default:
      break;
  }
  time.valid = ns.has_value();
  time.ns = ns.value_or(0);
  return time;
}

std::string without_exception_prefix(const std::string& what) {
  // "[json.exception.parse_error.101] parse error at line 1, ..." -> "parse error at line 1, ..."
  if (!what.empty() && what[0] == '[') {
    if (const auto end = what.find("] "); end != std::string::npos) return what.substr(end + 2);
  }
  return what;
}

// The SAX handler. Depths count the containers open: the root is depth 1; in the object form the
// events array is depth 2 and each event object depth 3, in the array form 1 and 2.
class Handler {
 public:
  Handler(const std::filesystem::path& file, const GzipReadBuf& input, TraceEventSink& sink)
      : file_(file), input_(input), sink_(sink) {}

  bool null() { return scalar(Scalar{}); }
  bool boolean(bool value) {
    Scalar s;
    s.kind = Scalar::Kind::boolean;
    s.boolean = value;
    return scalar(std::move(s));
  }
  bool number_integer(json::number_integer_t value) {
    Scalar s;
    s.kind = Scalar::Kind::integer;
    s.integer = value;
    return scalar(std::move(s));
  }
  bool number_unsigned(json::number_unsigned_t value) {
    Scalar s;
    s.kind = Scalar::Kind::unsigned_integer;
    s.unsigned_integer = value;
    return scalar(std::move(s));
  }
  bool number_float(json::number_float_t value, const json::string_t& raw) {
    Scalar s;
    s.kind = Scalar::Kind::floating;
    s.floating = value;
    s.text = raw;
    return scalar(std::move(s));
  }
  bool string(json::string_t& value) {
    Scalar s;
    s.kind = Scalar::Kind::string;
    s.text = std::move(value);
    return scalar(std::move(s));
  }
  bool binary(json::binary_t&) { return true; }  // JSON text has none
  bool start_object(std::size_t) { return open(true); }
  bool start_array(std::size_t) { return open(false); }
  bool end_object() { return close(); }
  bool end_array() { return close(); }
  bool key(json::string_t& key);
  bool parse_error(std::size_t position, const std::string&, const nlohmann::detail::exception& e) {
    // `position` counts the characters read, the offending one (or the end of input) included:
    // its 0-based offset is one less.
    error_position_ = position > 0 ? position - 1 : 0;
    error_ = without_exception_prefix(e.what());
    return false;
  }

  std::optional<TraceForm> form() const { return form_; }
  bool saw_trace_events() const { return saw_trace_events_; }
  const std::string& error() const { return error_; }
  std::size_t error_position() const { return error_position_; }

 private:
  enum class Nested { none, top_level, field, skip };

  bool open(bool object);
  bool close();
  bool scalar(Scalar&& s);
  void assign_field(Scalar&& s);
  void finish_field_value();
  [[noreturn]] void not_a_trace(const std::string& what) const {
    throw FormatError(file_.string() + ": " + what + " at byte " +
                      std::to_string(input_.position()) +
                      "; expected a Chrome trace: an object with a \"traceEvents\" array of "
                      "events, or an array of events");
  }
  bool in_event_fields() const { return in_event_ && depth_ == events_depth_ + 1; }

  const std::filesystem::path& file_;
  const GzipReadBuf& input_;
  TraceEventSink& sink_;

  std::optional<TraceForm> form_;
  int depth_ = 0;
  int events_depth_ = 0;  // depth of the events array while inside it; 0 elsewhere
  bool saw_trace_events_ = false;
  bool in_event_ = false;
  std::string top_key_;
  std::string field_;
  TraceEvent event_;

  Nested nested_ = Nested::none;
  int skip_depth_ = 0;  // depth of the container being skipped
  ValueBuilder<json> top_value_;
  ValueBuilder<ordered_json> field_value_;

  std::string error_;
  std::size_t error_position_ = 0;
};

bool Handler::key(json::string_t& key) {
  switch (nested_) {
    case Nested::top_level:
      top_value_.key(std::move(key));
      break;
    case Nested::field:
      field_value_.key(std::move(key));
      break;
    case Nested::skip:
      break;
    case Nested::none:
      if (form_ == TraceForm::object && depth_ == 1) {
        top_key_ = std::move(key);
      } else if (in_event_fields()) {
        field_ = std::move(key);
      }
      break;
  }
  return true;
}

bool Handler::open(bool object) {
  if (nested_ != Nested::none) {
    ++depth_;
    if (nested_ == Nested::top_level) top_value_.open(object);
    if (nested_ == Nested::field) field_value_.open(object);
    return true;
  }
  if (depth_ == 0) {
    form_ = object ? TraceForm::object : TraceForm::array;
    depth_ = 1;
    if (!object) events_depth_ = 1;
    return true;
  }
  if (form_ == TraceForm::object && depth_ == 1) {  // the value of a top-level member
    ++depth_;
    if (top_key_ == "traceEvents") {
      if (object) not_a_trace("\"traceEvents\" is an object");
      saw_trace_events_ = true;
      events_depth_ = depth_;
      return true;
    }
    nested_ = Nested::top_level;
    top_value_.start(object);
    return true;
  }
  if (events_depth_ != 0 && depth_ == events_depth_) {  // an element of the event array
    ++depth_;
    if (object) {
      in_event_ = true;
      event_.clear();
      event_.offset = input_.position() > 0 ? input_.position() - 1 : 0;
      return true;
    }
    sink_.not_an_object(input_.position() > 0 ? input_.position() - 1 : 0);
    nested_ = Nested::skip;
    skip_depth_ = depth_;
    return true;
  }
  ++depth_;
  if (in_event_ && depth_ == events_depth_ + 2) {  // a field's value that is an object or array
    if (field_ == "args" || field_ == "id2" || field_ == "cat" || field_ == "name") {
      nested_ = Nested::field;
      field_value_.start(object);
      return true;
    }
  }
  // Anything else in an event (a stack, a "Call stack" array) is not needed: skipped unbuilt.
  nested_ = Nested::skip;
  skip_depth_ = depth_;
  return true;
}

bool Handler::close() {
  if (nested_ != Nested::none) {
    const int closing = depth_--;
    if (nested_ == Nested::top_level && top_value_.close()) {
      nested_ = Nested::none;
      sink_.top_level(top_key_, top_value_.take());
    } else if (nested_ == Nested::field && field_value_.close()) {
      nested_ = Nested::none;
      finish_field_value();
    } else if (nested_ == Nested::skip && closing == skip_depth_) {
      nested_ = Nested::none;
    }
    return true;
  }
  if (in_event_fields()) {
    --depth_;
    in_event_ = false;
    sink_.event(event_);
    return true;
  }
  if (events_depth_ != 0 && depth_ == events_depth_) events_depth_ = 0;
  --depth_;
  return true;
}

bool Handler::scalar(Scalar&& s) {
  switch (nested_) {
    case Nested::top_level:
      top_value_.scalar(to_json<json>(std::move(s)));
      return true;
    case Nested::field:
      field_value_.scalar(to_json<ordered_json>(std::move(s)));
      return true;
    case Nested::skip:
      return true;
    case Nested::none:
      break;
  }
  if (depth_ == 0) not_a_trace(std::string("the file holds a single ") + s.kind_name());
  if (form_ == TraceForm::object && depth_ == 1) {
    if (top_key_ == "traceEvents")
      not_a_trace(std::string("\"traceEvents\" is a ") + s.kind_name());
    sink_.top_level(top_key_, to_json<json>(std::move(s)));
  } else if (events_depth_ != 0 && depth_ == events_depth_) {
    sink_.not_an_object(input_.position() > 0 ? input_.position() - 1 : 0);
  } else if (in_event_fields()) {
    assign_field(std::move(s));
  }
  return true;
}

void Handler::assign_field(Scalar&& s) {
  const auto text = [&s]() -> std::string {
    if (s.kind == Scalar::Kind::string || s.kind == Scalar::Kind::floating) {
      return std::move(s.text);
    }
    return to_json<json>(std::move(s)).dump();
  };
  const std::string& f = field_;
  if (f == "ph") {
    event_.ph = s.kind == Scalar::Kind::string ? std::move(s.text) : std::string();
  } else if (f == "name") {
    event_.has_name = true;
    event_.name = text();
  } else if (f == "cat") {
    event_.has_cat = true;
    event_.cat = text();
  } else if (f == "pid") {
    event_.pid = id_text(std::move(s), &event_.pid_is_number);
  } else if (f == "tid") {
    event_.tid = id_text(std::move(s), &event_.tid_is_number);
  } else if (f == "ts") {
    event_.ts = to_time(s);
  } else if (f == "dur") {
    event_.dur = to_time(s);
  } else if (f == "id") {
    event_.id = id_text(std::move(s), nullptr);
  } else if (f == "bp") {
    if (s.kind == Scalar::Kind::string) event_.bp = std::move(s.text);
  } else if (f == "s") {
    if (s.kind == Scalar::Kind::string) event_.scope = std::move(s.text);
  }
}

void Handler::finish_field_value() {
  auto value = field_value_.take();
  if (field_ == "args") {
    if (value.is_object()) event_.args = std::move(value);
  } else if (field_ == "cat" || field_ == "name") {
    // Not a string: kept as its JSON text, so the event is counted under something visible.
    (field_ == "cat" ? event_.has_cat : event_.has_name) = true;
    (field_ == "cat" ? event_.cat : event_.name) =
        value.dump(-1, ' ', false, json::error_handler_t::replace);
  } else if (field_ == "id2" && value.is_object()) {
    // {"local": "0x1"} or {"global": 7}: ids of different scopes never match each other.
    for (const char* scope : {"local", "global"}) {
      if (const auto it = value.find(scope); it != value.end()) {
        event_.id =
            std::string(scope) + ":" + (it->is_string() ? it->get<std::string>() : it->dump());
      }
    }
  }
}

}  // namespace

void TraceEvent::clear() {
  offset = 0;
  ph.clear();
  name.clear();
  cat.clear();
  has_name = false;
  has_cat = false;
  pid.clear();
  tid.clear();
  pid_is_number = false;
  tid_is_number = false;
  ts = {};
  dur = {};
  id.clear();
  bp.clear();
  scope.clear();
  args = nullptr;
}

TraceForm read_trace_events(const std::filesystem::path& file, TraceEventSink& sink) {
  GzipReadBuf buffer(file);
  std::istream in(&buffer);
  Handler handler(file, buffer, sink);
  const bool parsed = json::sax_parse(in, &handler);
  const std::string where = buffer.compressed() ? " of the uncompressed JSON" : "";
  // Damaged gzip data end the input early; say so rather than "unexpected end of input".
  if (buffer.failed()) {
    throw FormatError(file.string() + ": damaged gzip data after byte " +
                      std::to_string(buffer.position()) + where + " (" + buffer.error() + ")");
  }
  if (!parsed) {
    if (buffer.position() == 0) throw FormatError(file.string() + ": the file is empty");
    throw FormatError(file.string() + ": malformed JSON at byte " +
                      std::to_string(handler.error_position()) + where + " (" + handler.error() +
                      ")");
  }
  if (handler.form() == TraceForm::object && !handler.saw_trace_events()) {
    throw FormatError(file.string() +
                      ": a JSON object with no \"traceEvents\" member; expected a Chrome trace: "
                      "an object with a \"traceEvents\" array of events, or an array of events");
  }
  return handler.form().value_or(TraceForm::array);
}

std::optional<std::int64_t> micros_text_to_ns(std::string_view text) {
  constexpr int kMaxDigits = 18;  // 10^18 - 1 fits an int64
  std::size_t i = 0;
  const std::size_t n = text.size();
  bool negative = false;
  if (i < n && (text[i] == '-' || text[i] == '+')) negative = text[i++] == '-';
  std::uint64_t digits = 0;
  int significant = 0;
  int scale = 0;  // the value is digits * 10^scale microseconds (before the exponent)
  bool any = false;
  const auto take = [&](int digit, bool fraction) {
    any = true;
    if (significant == 0 && digit == 0) {
      if (fraction) --scale;
      return;
    }
    if (significant < kMaxDigits) {
      digits = digits * 10 + static_cast<std::uint64_t>(digit);
      ++significant;
      if (fraction) --scale;
    } else if (!fraction) {
      ++scale;  // an integer digit past the precision still counts for the magnitude
    }
  };
  for (; i < n && text[i] >= '0' && text[i] <= '9'; ++i) take(text[i] - '0', false);
  if (i < n && text[i] == '.') {
    for (++i; i < n && text[i] >= '0' && text[i] <= '9'; ++i) take(text[i] - '0', true);
  }
  if (!any) return std::nullopt;
  int exponent = 0;
  if (i < n && (text[i] == 'e' || text[i] == 'E')) {
    ++i;
    bool exponent_negative = false;
    if (i < n && (text[i] == '-' || text[i] == '+')) exponent_negative = text[i++] == '-';
    bool exponent_digits = false;
    for (; i < n && text[i] >= '0' && text[i] <= '9'; ++i) {
      exponent_digits = true;
      if (exponent < 100000) exponent = exponent * 10 + (text[i] - '0');
    }
    if (!exponent_digits) return std::nullopt;
    if (exponent_negative) exponent = -exponent;
  }
  if (i != n) return std::nullopt;
  if (digits == 0) return 0;
  const int power = scale + exponent + 3;  // nanoseconds = digits * 10^power
  std::uint64_t value = digits;
  if (power >= 0) {
    for (int p = 0; p < power; ++p) {
      if (value > static_cast<std::uint64_t>(kMaxInt64) / 10) return std::nullopt;
      value *= 10;
    }
  } else if (power < -19) {
    value = 0;
  } else {
    std::uint64_t divisor = 1;
    for (int p = 0; p < -power; ++p) divisor *= 10;  // at most 10^19 < 2^64
    const std::uint64_t remainder = value % divisor;
    value /= divisor;
    if (remainder >= divisor - remainder) ++value;  // half away from zero
  }
  if (value > static_cast<std::uint64_t>(kMaxInt64)) return std::nullopt;
  const auto ns = static_cast<std::int64_t>(value);
  return negative ? -ns : ns;
}

}  // namespace tb::trace
