#include "core/data/formats/npy.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zip.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstring>
#include <limits>
#include <string_view>
#include <utility>

#include "core/data/formats/array_support.h"
#include "core/util/error.h"

namespace tb::data {

static_assert(std::endian::native == std::endian::little,
              "little-endian .npy data is used in place as payload bytes");

namespace {

using shard::SampleDType;

constexpr char kMagic[6] = {'\x93', 'N', 'U', 'M', 'P', 'Y'};
// No real header is near this; keeps a corrupt length from asking for gigabytes.
constexpr std::uint64_t kMaxHeaderBytes = 16u << 20;
constexpr const char* kMetadataMember = "metadata.json";

[[noreturn]] void fail_at(const std::string& origin, std::uint64_t offset,
                          const std::string& what) {
  throw FormatError(origin + ": at byte " + std::to_string(offset) + ": " + what);
}

std::string shape_text(const std::vector<std::uint64_t>& shape) {
  std::string text = "(";
  for (std::size_t i = 0; i < shape.size(); ++i) text += (i ? ", " : "") + std::to_string(shape[i]);
  return text + (shape.size() == 1 ? ",)" : ")");
}

// A plain number type: kind 'u', 'i', 'f', 'b', ... and its size in bytes; size 0 when the
// descr has not that form.
struct Element {
  char order = 0;
  char kind = 0;
  std::size_t size = 0;
};

Element split_descr(const std::string& descr) {
  Element e;
  if (descr.size() < 3 || descr.size() > 4 || !std::strchr("<>|=", descr[0])) return e;
  for (std::size_t i = 2; i < descr.size(); ++i) {
    if (descr[i] < '0' || descr[i] > '9') return e;
  }
  e.order = descr[0];
  e.kind = descr[1];
  e.size = std::stoul(descr.substr(2));
  return e;
}

// The dict literal of an .npy header; offsets in errors are from the file's start.
class HeaderParser {
 public:
  HeaderParser(std::string_view text, std::uint64_t base, const std::string& origin)
      : text_(text), base_(base), origin_(origin) {}

  void parse(NpyHeader& header) {
    bool has_descr = false, has_order = false, has_shape = false;
    expect('{');
    for (;;) {
      skip_space();
      if (eat('}')) break;
      const std::uint64_t key_at = pos_;
      const std::string key = string_literal();
      expect(':');
      skip_space();
      if (key == "descr") {
        if (peek() == '[') {
          error(
              "'descr' is a list of fields (a structured dtype); expected a plain number type "
              "such as '<f4'");
        }
        header.descr = string_literal();
        has_descr = true;
      } else if (key == "fortran_order") {
        header.fortran_order = boolean();
        has_order = true;
      } else if (key == "shape") {
        header.shape = tuple();
        has_shape = true;
      } else {
        pos_ = key_at;
        error("unexpected key '" + key + "' (expected 'descr', 'fortran_order', 'shape')");
      }
      skip_space();
      if (eat(',')) continue;
      expect('}');
      break;
    }
    if (!has_descr || !has_order || !has_shape) {
      error(std::string("the header dict has no '") +
            (!has_descr   ? "descr"
             : !has_order ? "fortran_order"
                          : "shape") +
            "' key");
    }
  }

 private:
  [[noreturn]] void error(const std::string& what) const {
    fail_at(origin_, base_ + pos_, "bad .npy header: " + what);
  }
  char peek() const { return pos_ < text_.size() ? text_[pos_] : '\0'; }
  void skip_space() {
    while (pos_ < text_.size() && std::strchr(" \t\r\n", text_[pos_]) && text_[pos_]) ++pos_;
  }
  bool eat(char c) {
    skip_space();
    if (peek() != c || pos_ >= text_.size()) return false;
    ++pos_;
    return true;
  }
  void expect(char c) {
    if (eat(c)) return;
    std::string what = "expected '";
    what += c;
    what += "', found ";
    if (pos_ < text_.size()) {
      what += '\'';
      what += text_[pos_];
      what += '\'';
    } else {
      what += "the end";
    }
    error(what);
  }
  std::string string_literal() {
    skip_space();
    const char quote = peek();
    if (quote != '\'' && quote != '"') error("expected a quoted string");
    const std::size_t end = text_.find(quote, pos_ + 1);
    if (end == std::string_view::npos) error("string never ends");
    std::string value(text_.substr(pos_ + 1, end - pos_ - 1));
    pos_ = end + 1;
    return value;
  }
  bool boolean() {
    for (const auto& [word, value] : {std::pair{"True", true}, std::pair{"False", false}}) {
      if (text_.substr(pos_).starts_with(word)) {
        pos_ += std::strlen(word);
        return value;
      }
    }
    error("'fortran_order' is not True or False");
  }
  std::vector<std::uint64_t> tuple() {
    expect('(');
    std::vector<std::uint64_t> values;
    for (;;) {
      if (eat(')')) break;
      skip_space();
      if (peek() < '0' || peek() > '9') error("expected a non-negative integer in 'shape'");
      std::uint64_t v = 0;
      while (peek() >= '0' && peek() <= '9') {
        const std::uint64_t digit = static_cast<std::uint64_t>(peek() - '0');
        if (v > (std::numeric_limits<std::uint64_t>::max() - digit) / 10) {
          error("a 'shape' dimension is too large");
        }
        v = v * 10 + digit;
        ++pos_;
      }
      if (peek() == 'L') ++pos_;  // Python 2's long literals, as old NumPy wrote them
      values.push_back(v);
      if (eat(',')) continue;
      expect(')');
      break;
    }
    return values;
  }

  std::string_view text_;
  std::size_t pos_ = 0;
  std::uint64_t base_;
  const std::string& origin_;
};

// An array whose header was parsed, checked for what the set needs.
struct Array {
  std::string origin;
  NpyHeader header;
  Element element;
  std::uint64_t count = 0;
  std::uint64_t row_bytes = 0;  // bytes of one row (a sample, a label) in the file
};

Array check_array(const std::string& origin, NpyHeader header, const std::string& role) {
  Array a;
  a.origin = origin;
  a.element = split_descr(header.descr);
  const std::string descr = "descr '" + header.descr + "'";
  if (a.element.size == 0) {
    fail_at(origin, 10, role + " have " + descr + ", expected a plain number type such as '<f4'");
  }
  if (a.element.order == '>' && a.element.size > 1) {
    fail_at(origin, 10,
            role + " have big-endian " + descr +
                "; only little-endian arrays are supported (save a.astype('<" + a.element.kind +
                std::to_string(a.element.size) + "'))");
  }
  if (header.fortran_order && header.shape.size() > 1) {
    fail_at(origin, 10,
            role +
                " are stored with fortran_order True (column-major); save them row-major "
                "(np.ascontiguousarray)");
  }
  if (header.shape.empty()) fail_at(origin, 10, role + " are a scalar, expected an array");
  a.count = header.shape[0];
  a.row_bytes = a.element.size;
  for (std::size_t i = 1; i < header.shape.size(); ++i) a.row_bytes *= header.shape[i];
  a.header = std::move(header);
  return a;
}

// The sample spec of a samples array; `from_f64` when its '<f8' values are narrowed to f32.
SampleSpec sample_spec(const Array& a, bool& from_f64) {
  const auto& e = a.element;
  SampleSpec spec;
  from_f64 = false;
  if (e.kind == 'u' && e.size == 1) {
    spec.dtype = SampleDType::u8;
  } else if (e.kind == 'i' && e.size == 1) {
    spec.dtype = SampleDType::i8;
  } else if (e.kind == 'i' && e.size == 4) {
    spec.dtype = SampleDType::i32;
  } else if (e.kind == 'f' && e.size == 2) {
    spec.dtype = SampleDType::f16;
  } else if (e.kind == 'f' && e.size == 4) {
    spec.dtype = SampleDType::f32;
  } else if (e.kind == 'f' && e.size == 8) {
    spec.dtype = SampleDType::f32;
    from_f64 = true;
  } else {
    fail_at(a.origin, 10,
            "samples have descr '" + a.header.descr +
                "', expected '|u1', '|i1', '<i4', '<f2', '<f4' or '<f8'");
  }
  const auto& shape = a.header.shape;
  if (shape.size() < 2 || shape.size() > shard::kMaxRank + 1) {
    fail_at(a.origin, 10,
            "samples have shape " + shape_text(shape) +
                ", expected (count, d1, ...) with 1 to 6 sample dimensions");
  }
  for (std::size_t i = 1; i < shape.size(); ++i) {
    if (shape[i] == 0 || shape[i] > std::numeric_limits<std::uint32_t>::max()) {
      fail_at(
          a.origin, 10,
          "samples have shape " + shape_text(shape) + ", expected sample dimensions 1 .. 2^32-1");
    }
    spec.shape.push_back(static_cast<std::uint32_t>(shape[i]));
  }
  return spec;
}

// A rank-1 integer array of `count` values from its whole bytes. Unsigned 64-bit values above
// 2^63-1 are kept in `wide` only (keys may use them; labels may not).
std::vector<std::int64_t> integers(const Array& a, std::span<const std::byte> bytes,
                                   std::uint64_t count, const std::string& role,
                                   std::vector<std::uint64_t>* wide) {
  const auto& e = a.element;
  const bool integer = (e.kind == 'i' || e.kind == 'u') &&
                       (e.size == 1 || e.size == 2 || e.size == 4 || e.size == 8);
  if (!integer) {
    fail_at(a.origin, 10,
            role + " have descr '" + a.header.descr +
                "', expected integers ('|u1', '<i4', '<i8', ...)");
  }
  if (a.header.shape.size() != 1 || a.count != count) {
    fail_at(a.origin, 10,
            role + " have shape " + shape_text(a.header.shape) + ", expected (" +
                std::to_string(count) + ",) (one per sample)");
  }
  std::vector<std::int64_t> values(count);
  if (wide) wide->resize(count);
  const std::byte* p = bytes.data() + a.header.data_offset;
  for (std::uint64_t i = 0; i < count; ++i, p += e.size) {
    std::uint64_t raw = 0;
    std::memcpy(&raw, p, e.size);
    std::int64_t v = 0;
    if (e.kind == 'u') {
      v = raw > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())
              ? std::numeric_limits<std::int64_t>::max()
              : static_cast<std::int64_t>(raw);
    } else {
      const unsigned shift = static_cast<unsigned>(64 - 8 * e.size);  // sign-extend
      v = static_cast<std::int64_t>(raw << shift) >> shift;
    }
    values[i] = v;
    if (wide) {
      if (e.kind == 'i' && v < 0) {
        fail_at(a.origin, a.header.data_offset + i * e.size,
                "key " + std::to_string(v) + " of row " + std::to_string(i) +
                    " is negative (expected 0 .. 2^64-1)");
      }
      (*wide)[i] = e.kind == 'u' ? raw : static_cast<std::uint64_t>(v);
    }
  }
  return values;
}

// The bytes up to the end of the header, read with `read(n)` (the next n bytes, fewer at the
// end) from a stream of `total` bytes.
template <class Read>
std::vector<std::byte> read_head(Read&& read, std::uint64_t total) {
  std::vector<std::byte> head = read(std::min<std::uint64_t>(total, 12));
  if (head.size() < 10) return head;
  std::uint64_t end = 0;
  if (head[6] == std::byte{1}) {
    end = 10 +
          (std::to_integer<std::uint64_t>(head[8]) | std::to_integer<std::uint64_t>(head[9]) << 8);
  } else if (head.size() == 12) {
    end = 12 + shard::get_u32(&head[8]);
  }
  end = std::min({end, total, kMaxHeaderBytes + 12});
  if (end > head.size()) {
    const auto more = read(end - head.size());
    head.insert(head.end(), more.begin(), more.end());
  }
  return head;
}

// ---- files ----

class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  Fd(Fd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  Fd& operator=(Fd&& other) noexcept {
    std::swap(fd_, other.fd_);
    return *this;
  }
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const { return fd_; }

 private:
  int fd_;
};

Fd open_file(const std::filesystem::path& path, std::uint64_t& size) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) {
    throw FormatError(path.string() + ": cannot open for reading: " + std::strerror(errno));
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode)) {
    throw FormatError(path.string() + ": not a regular file");
  }
  size = static_cast<std::uint64_t>(st.st_size);
  return fd;
}

// Reads `n` bytes at `offset`; returns how many there were before the end of the file.
std::size_t pread_full(int fd, std::byte* out, std::size_t n, std::uint64_t offset,
                       const std::string& origin) {
  std::size_t got = 0;
  while (got < n) {
    const ssize_t r = ::pread(fd, out + got, n - got, static_cast<off_t>(offset + got));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) fail_at(origin, offset + got, std::string("cannot read: ") + std::strerror(errno));
    if (r == 0) break;
    got += static_cast<std::size_t>(r);
  }
  return got;
}

std::vector<std::byte> read_file(const std::filesystem::path& path) {
  std::uint64_t size = 0;
  Fd fd = open_file(path, size);
  std::vector<std::byte> bytes(size);
  bytes.resize(pread_full(fd.get(), bytes.data(), bytes.size(), 0, path.string()));
  return bytes;
}

// ---- zip archives ----

struct ZipCloser {
  void operator()(zip_t* z) const { zip_discard(z); }
  void operator()(zip_file_t* f) const { zip_fclose(f); }
};
using ZipPtr = std::unique_ptr<zip_t, ZipCloser>;
using ZipFilePtr = std::unique_ptr<zip_file_t, ZipCloser>;

ZipPtr open_zip(const std::filesystem::path& path, int flags) {
  if (!std::filesystem::exists(path)) throw FormatError(path.string() + ": no such file");
  int code = 0;
  ZipPtr zip(zip_open(path.c_str(), flags, &code));
  if (!zip) {
    zip_error_t error;
    zip_error_init_with_code(&error, code);
    const std::string reason = zip_error_strerror(&error);
    zip_error_fini(&error);
    throw FormatError(path.string() + ": not a readable zip archive (" + reason + ")");
  }
  return zip;
}

std::string member_origin(const std::filesystem::path& archive, const std::string& member) {
  return archive.string() + ": member '" + member + "'";
}

// The index of member `name` or "name.npy"; -1 when `optional` and there is none.
zip_int64_t find_member(zip_t* zip, const std::filesystem::path& path, const std::string& name,
                        bool optional = false) {
  zip_int64_t index = zip_name_locate(zip, (name + ".npy").c_str(), 0);
  if (index < 0) index = zip_name_locate(zip, name.c_str(), 0);
  if (index >= 0 || optional) return index;
  std::string members;
  const zip_int64_t n = zip_get_num_entries(zip, 0);
  for (zip_int64_t i = 0; i < n; ++i) {
    const char* member = zip_get_name(zip, static_cast<zip_uint64_t>(i), 0);
    members += std::string(members.empty() ? "'" : ", '") + (member ? member : "?") + "'";
  }
  throw FormatError(path.string() + ": no member '" + name + ".npy' (the archive holds " +
                    (members.empty() ? std::string("nothing") : members) + ")");
}

zip_stat_t stat_member(zip_t* zip, zip_int64_t index, const std::string& origin) {
  zip_stat_t st;
  zip_stat_init(&st);
  if (zip_stat_index(zip, static_cast<zip_uint64_t>(index), 0, &st) != 0) {
    throw FormatError(origin + ": cannot stat: " + zip_strerror(zip));
  }
  if ((st.valid & ZIP_STAT_ENCRYPTION_METHOD) && st.encryption_method != ZIP_EM_NONE) {
    throw FormatError(origin + ": is encrypted (expected a plain or deflated member)");
  }
  return st;
}

ZipFilePtr open_member(zip_t* zip, zip_int64_t index, const std::string& origin) {
  ZipFilePtr file(zip_fopen_index(zip, static_cast<zip_uint64_t>(index), 0));
  if (!file) throw FormatError(origin + ": cannot open: " + zip_strerror(zip));
  return file;
}

// Reads the member's next n bytes (fewer at its end; `at` is where they are, for errors).
std::uint64_t read_member_into(zip_file_t* file, std::byte* out, std::uint64_t n, std::uint64_t at,
                               const std::string& origin) {
  std::uint64_t got = 0;
  while (got < n) {
    const zip_int64_t r = zip_fread(file, out + got, n - got);
    if (r < 0) {
      fail_at(origin, at + got, std::string("cannot read (") + zip_file_strerror(file) + ")");
    }
    if (r == 0) break;
    got += static_cast<std::uint64_t>(r);
  }
  return got;
}

std::vector<std::byte> read_member_bytes(zip_file_t* file, std::uint64_t n, std::uint64_t at,
                                         const std::string& origin) {
  std::vector<std::byte> bytes(n);
  bytes.resize(read_member_into(file, bytes.data(), n, at, origin));
  return bytes;
}

std::vector<std::byte> read_member(zip_t* zip, zip_int64_t index, const std::string& origin) {
  const zip_stat_t st = stat_member(zip, index, origin);
  ZipFilePtr file = open_member(zip, index, origin);
  auto bytes = read_member_bytes(file.get(), st.size, 0, origin);
  if (bytes.size() != st.size) {
    fail_at(origin, bytes.size(),
            "member ends early (the archive says " + std::to_string(st.size) + " bytes)");
  }
  // libzip checks the member's CRC only when a read reaches its end; this one does.
  std::byte extra;
  if (read_member_into(file.get(), &extra, 1, st.size, origin) != 0) {
    fail_at(origin, st.size,
            "member is longer than the archive says (" + std::to_string(st.size) + " bytes)");
  }
  return bytes;
}

}  // namespace

NpyHeader parse_npy_header(std::span<const std::byte> head, std::uint64_t total,
                           const std::string& origin) {
  if (head.size() < 10) {
    fail_at(origin, head.size(),
            "file ends inside the .npy preamble (magic \\x93NUMPY, version, header length; " +
                std::to_string(total) + " bytes in all)");
  }
  if (std::memcmp(head.data(), kMagic, sizeof kMagic) != 0) {
    fail_at(origin, 0, "no .npy magic (expected \\x93NUMPY)");
  }
  NpyHeader header;
  header.major_version = std::to_integer<int>(head[6]);
  std::uint64_t start = 0, length = 0;
  if (header.major_version == 1) {
    start = 10;
    length = std::to_integer<std::uint64_t>(head[8]) | std::to_integer<std::uint64_t>(head[9]) << 8;
  } else if (header.major_version == 2 || header.major_version == 3) {
    if (head.size() < 12) fail_at(origin, head.size(), "file ends inside the header length");
    start = 12;
    length = shard::get_u32(&head[8]);
  } else {
    fail_at(origin, 6,
            "version " + std::to_string(header.major_version) + "." +
                std::to_string(std::to_integer<int>(head[7])) + ", expected 1.0, 2.0 or 3.0");
  }
  if (length > kMaxHeaderBytes) {
    fail_at(origin, 8, "header length " + std::to_string(length) + " is implausibly large");
  }
  header.data_offset = start + length;
  if (head.size() < header.data_offset || total < header.data_offset) {
    fail_at(
        origin, std::min<std::uint64_t>(head.size(), total),
        "file ends inside the header (it runs to byte " + std::to_string(header.data_offset) + ")");
  }
  const std::string_view text(reinterpret_cast<const char*>(head.data()) + start, length);
  HeaderParser(text, start, origin).parse(header);

  const Element e = split_descr(header.descr);
  if (e.size > 0) {
    std::uint64_t bytes = e.size;
    for (std::uint64_t d : header.shape) {
      if (d != 0 && bytes > std::numeric_limits<std::uint64_t>::max() / 2 / d) {
        fail_at(origin, start, "shape " + shape_text(header.shape) + " is too large");
      }
      bytes *= d;
    }
    if (total - header.data_offset < bytes) {
      fail_at(origin, total,
              "file ends after " + std::to_string(total - header.data_offset) +
                  " data bytes; shape " + shape_text(header.shape) + " of '" + header.descr +
                  "' needs " + std::to_string(bytes));
    }
  }
  return header;
}

std::string npy_header(const std::string& descr, const std::vector<std::uint64_t>& shape) {
  std::string dict =
      "{'descr': '" + descr + "', 'fortran_order': False, 'shape': " + shape_text(shape) + ", }";
  // NumPy pads with spaces and a newline so the data starts at a multiple of 64 bytes.
  const bool v2 = dict.size() + 11 > 65535;
  const std::size_t preamble = v2 ? 12 : 10;
  const std::size_t padded = (preamble + dict.size() + 1 + 63) / 64 * 64 - preamble;
  dict.append(padded - dict.size() - 1, ' ');
  dict += '\n';
  std::string out(kMagic, sizeof kMagic);
  out += static_cast<char>(v2 ? 2 : 1);
  out += '\0';
  for (std::size_t i = 0; i < (v2 ? 4u : 2u); ++i) out += static_cast<char>(dict.size() >> (8 * i));
  return out + dict;
}

struct NpyRecordSet::State {
  enum class Storage { file, memory, zip_stored };
  std::string name;
  std::filesystem::path path;  // the samples .npy, or the archive
  std::string origin;          // names the samples in errors
  Storage storage = Storage::file;
  zip_int64_t member = -1;  // zip_stored: the samples member's index
  std::uint64_t data_offset = 0;
  std::uint64_t row_bytes = 0;  // one sample as stored
  bool from_f64 = false;
  std::shared_ptr<const std::vector<std::byte>> memory;  // memory: the whole .npy member
  SampleSpec spec;
  std::uint64_t count = 0;
  std::vector<std::int32_t> labels;
  std::vector<std::uint64_t> keys;  // empty: keys are positions
  nlohmann::json metadata;
};

namespace {

class NpyReader final : public RecordReader {
 public:
  explicit NpyReader(std::shared_ptr<const NpyRecordSet::State> state) : state_(std::move(state)) {
    const auto& s = *state_;
    if (s.storage == NpyRecordSet::State::Storage::file) {
      std::uint64_t size = 0;
      fd_ = open_file(s.path, size);
    } else if (s.storage == NpyRecordSet::State::Storage::zip_stored) {
      zip_ = open_zip(s.path, ZIP_RDONLY);
      member_ = open_member(zip_.get(), s.member, s.origin);
    }
    stored_.resize(s.row_bytes);
    payload_.resize(s.spec.payload_bytes());
  }

  RecordRef read(std::uint64_t position) override {
    using Storage = NpyRecordSet::State::Storage;
    const auto& s = *state_;
    if (position >= s.count) {
      throw FormatError(s.origin + ": sample " + std::to_string(position) + " is outside the " +
                        std::to_string(s.count) + " samples");
    }
    const std::uint64_t offset = s.data_offset + position * s.row_bytes;
    const std::byte* stored = nullptr;
    std::byte* into = s.from_f64 ? stored_.data() : payload_.data();
    if (s.storage == Storage::memory) {
      stored = s.memory->data() + offset;  // the length was checked at open
    } else {
      std::size_t got = 0;
      if (s.storage == Storage::file) {
        got = pread_full(fd_.get(), into, s.row_bytes, offset, s.origin);
      } else {
        if (zip_fseek(member_.get(), static_cast<zip_int64_t>(offset), SEEK_SET) != 0) {
          fail_at(s.origin, offset,
                  std::string("cannot seek to sample ") + std::to_string(position) + " (" +
                      zip_file_strerror(member_.get()) + ")");
        }
        got = read_member_into(member_.get(), into, s.row_bytes, offset, s.origin);
      }
      if (got != s.row_bytes) {
        fail_at(s.origin, offset + got,
                "file ends inside sample " + std::to_string(position) + " (expected " +
                    std::to_string(s.row_bytes) + " bytes from byte " + std::to_string(offset) +
                    ")");
      }
      stored = into;
    }
    RecordRef ref;
    ref.key = s.keys.empty() ? position : s.keys[position];
    ref.label = s.labels[position];
    if (s.from_f64) {
      const std::size_t n = s.spec.numel();
      for (std::size_t i = 0; i < n; ++i) {
        double v;
        std::memcpy(&v, stored + 8 * i, 8);
        const float f = static_cast<float>(v);
        std::memcpy(payload_.data() + 4 * i, &f, 4);
      }
      ref.payload = payload_;
    } else {
      ref.payload = std::span(stored, s.row_bytes);
    }
    return ref;
  }

 private:
  std::shared_ptr<const NpyRecordSet::State> state_;
  Fd fd_;
  ZipPtr zip_;
  ZipFilePtr member_;
  std::vector<std::byte> stored_, payload_;
};

}  // namespace

namespace {

using State = NpyRecordSet::State;

void take_samples(State& state, const Array& samples) {
  state.spec = sample_spec(samples, state.from_f64);
  state.count = samples.count;
  state.row_bytes = samples.row_bytes;
  state.data_offset = samples.header.data_offset;
}

// Labels (and keys) of `count` samples from the whole bytes of their .npy. `origin` names the
// array in errors ("y.npy", "a.npz: member 'y.npy'"); `file` and `where` name a bad row.
std::int32_t take_labels(State& state, std::span<const std::byte> bytes, const std::string& origin,
                         const std::filesystem::path& file, const std::string& where) {
  const Array a = check_array(origin, parse_npy_header(bytes, bytes.size(), origin), "labels");
  const auto values = integers(a, bytes, state.count, "labels", nullptr);
  return detail::check_labels(values, state.labels, file, where);
}

void take_keys(State& state, std::span<const std::byte> bytes, const std::string& origin,
               const std::filesystem::path& file, const std::string& where) {
  const Array a = check_array(origin, parse_npy_header(bytes, bytes.size(), origin), "keys");
  integers(a, bytes, state.count, "keys", &state.keys);
  detail::check_unique_keys(state.keys, file, where);
}

}  // namespace

std::shared_ptr<NpyRecordSet> NpyRecordSet::open_npy(const std::filesystem::path& samples,
                                                     const std::filesystem::path& labels,
                                                     const std::filesystem::path& keys,
                                                     const nlohmann::json& metadata) {
  auto state = std::make_shared<State>();
  state->name = samples.filename().string();
  state->path = samples;
  state->origin = samples.string();
  state->storage = State::Storage::file;
  {
    std::uint64_t size = 0, at = 0;
    Fd fd = open_file(samples, size);
    const auto head = read_head(
        [&](std::uint64_t n) {
          std::vector<std::byte> bytes(n);
          bytes.resize(pread_full(fd.get(), bytes.data(), n, at, state->origin));
          at += bytes.size();
          return bytes;
        },
        size);
    take_samples(
        *state, check_array(state->origin, parse_npy_header(head, size, state->origin), "samples"));
  }
  const std::int32_t max_label =
      take_labels(*state, read_file(labels), labels.string(), labels, "labels");
  if (!keys.empty()) take_keys(*state, read_file(keys), keys.string(), keys, "keys");
  state->metadata =
      detail::build_metadata(state->name, state->spec.dtype, max_label, nullptr, metadata, samples);
  return std::make_shared<NpyRecordSet>(std::move(state));
}

std::shared_ptr<NpyRecordSet> NpyRecordSet::open_npz(const std::filesystem::path& archive,
                                                     const NpzNames& names,
                                                     const nlohmann::json& metadata) {
  auto state = std::make_shared<State>();
  state->name = archive.filename().string();
  state->path = archive;
  ZipPtr zip = open_zip(archive, ZIP_RDONLY | ZIP_CHECKCONS);
  auto member_name = [&](zip_int64_t index) {
    const char* name = zip_get_name(zip.get(), static_cast<zip_uint64_t>(index), 0);
    return std::string(name ? name : "?");
  };

  const zip_int64_t samples = find_member(zip.get(), archive, names.samples);
  state->origin = member_origin(archive, member_name(samples));
  const zip_stat_t st = stat_member(zip.get(), samples, state->origin);
  NpyHeader header;
  if (st.comp_method == ZIP_CM_STORE) {
    // Read in place by each reader; only the header now.
    state->storage = State::Storage::zip_stored;
    state->member = samples;
    ZipFilePtr file = open_member(zip.get(), samples, state->origin);
    std::uint64_t at = 0;
    const auto head = read_head(
        [&](std::uint64_t n) {
          auto bytes = read_member_bytes(file.get(), n, at, state->origin);
          at += bytes.size();
          return bytes;
        },
        st.size);
    header = parse_npy_header(head, st.size, state->origin);
  } else {
    // Compressed data cannot be read by position: inflate it once, for every reader.
    state->storage = State::Storage::memory;
    auto bytes =
        std::make_shared<std::vector<std::byte>>(read_member(zip.get(), samples, state->origin));
    header = parse_npy_header(*bytes, bytes->size(), state->origin);
    state->memory = std::move(bytes);
  }
  take_samples(*state, check_array(state->origin, std::move(header), "samples"));

  const zip_int64_t labels = find_member(zip.get(), archive, names.labels);
  const std::string label_origin = member_origin(archive, member_name(labels));
  const std::int32_t max_label =
      take_labels(*state, read_member(zip.get(), labels, label_origin), label_origin, archive,
                  "member '" + member_name(labels) + "'");
  if (!names.keys.empty()) {
    const zip_int64_t keys = find_member(zip.get(), archive, names.keys);
    const std::string key_origin = member_origin(archive, member_name(keys));
    take_keys(*state, read_member(zip.get(), keys, key_origin), key_origin, archive,
              "member '" + member_name(keys) + "'");
  }
  nlohmann::json stored;
  const zip_int64_t meta = zip_name_locate(zip.get(), kMetadataMember, 0);
  if (meta >= 0) {
    const std::string origin = member_origin(archive, kMetadataMember);
    const auto bytes = read_member(zip.get(), meta, origin);
    try {
      stored = nlohmann::json::parse(reinterpret_cast<const char*>(bytes.data()),
                                     reinterpret_cast<const char*>(bytes.data()) + bytes.size());
    } catch (const nlohmann::json::exception& e) {
      throw FormatError(origin + ": is not JSON: " + e.what());
    }
  }
  state->metadata =
      detail::build_metadata(state->name, state->spec.dtype, max_label, stored, metadata, archive);
  return std::make_shared<NpyRecordSet>(std::move(state));
}

NpyRecordSet::NpyRecordSet(std::shared_ptr<const State> state) : state_(std::move(state)) {}
NpyRecordSet::~NpyRecordSet() = default;

std::string NpyRecordSet::name() const {
  return state_->name;
}
SampleSpec NpyRecordSet::spec() const {
  return state_->spec;
}
nlohmann::json NpyRecordSet::metadata() const {
  return state_->metadata;
}
std::uint64_t NpyRecordSet::size() const {
  return state_->count;
}
std::unique_ptr<RecordReader> NpyRecordSet::open_reader() const {
  return std::make_unique<NpyReader>(state_);
}

}  // namespace tb::data
