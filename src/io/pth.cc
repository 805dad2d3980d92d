#include "io/pth.h"

#include <caffe2/serialize/inline_container.h>
#include <torch/torch.h>

#include <cstring>
#include <map>
#include <optional>
#include <set>

#include "latentedit/errors.h"
#include "io/fsutil.h"

namespace latentedit {
namespace {

using Kind = PyValue::Kind;

PyPtr make(Kind k) {
  auto v = std::make_shared<PyValue>();
  v->kind = k;
  return v;
}
PyPtr make_int(int64_t i) {
  auto v = make(Kind::kInt);
  v->i = i;
  return v;
}
PyPtr make_str(Kind k, std::string s) {
  auto v = make(k);
  v->s = std::move(s);
  return v;
}

// Storage type names (legacy tags, kept by torch.save in every version) -> dtype.
bool storage_dtype(const std::string& global, torch::Dtype* out) {
  static const std::map<std::string, torch::Dtype> m = {
      {"torch.FloatStorage", torch::kFloat32},   {"torch.DoubleStorage", torch::kFloat64},
      {"torch.HalfStorage", torch::kFloat16},    {"torch.BFloat16Storage", torch::kBFloat16},
      {"torch.LongStorage", torch::kInt64},      {"torch.IntStorage", torch::kInt32},
      {"torch.ShortStorage", torch::kInt16},     {"torch.CharStorage", torch::kInt8},
      {"torch.ByteStorage", torch::kUInt8},      {"torch.BoolStorage", torch::kBool},
      {"torch.cuda.FloatStorage", torch::kFloat32}, {"torch.cuda.DoubleStorage", torch::kFloat64},
      {"torch.cuda.HalfStorage", torch::kFloat16},  {"torch.cuda.LongStorage", torch::kInt64},
      {"torch.cuda.IntStorage", torch::kInt32},     {"torch.cuda.ByteStorage", torch::kUInt8},
      {"torch.cuda.BoolStorage", torch::kBool},     {"torch.cuda.BFloat16Storage", torch::kBFloat16},
  };
  auto it = m.find(global);
  if (it == m.end()) return false;
  *out = it->second;
  return true;
}

// Globals a checkpoint may name. Each is interpreted here, never imported or called.
const std::set<std::string>& allowed_globals() {
  static const std::set<std::string> s = {
      "collections.OrderedDict", "torch._utils._rebuild_tensor_v2", "torch._utils._rebuild_tensor",
      "torch._utils._rebuild_parameter", "torch.Size", "torch.device", "_codecs.encode",
      "torch.float32", "torch.float64", "torch.float16", "torch.bfloat16", "torch.int64",
      "torch.int32", "torch.int16", "torch.int8", "torch.uint8", "torch.bool", "builtins.set",
      "__builtin__.set"};
  return s;
}

class Unpickler {
 public:
  using StorageFn = std::function<torch::Tensor(const std::string&, torch::Dtype, int64_t)>;
  Unpickler(const uint8_t* d, size_t n, std::string what, StorageFn fn)
      : p_(d), end_(d + n), begin_(d), what_(std::move(what)), storage_(std::move(fn)) {}

  PyPtr run() {
    while (true) {
      const uint8_t op = byte();
      switch (op) {
        case 0x80: byte(); break;                            // PROTO
        case 0x95: take(8); break;                           // FRAME
        case '.': {                                          // STOP
          if (stack_.size() != 1) fail("STOP with " + std::to_string(stack_.size()) + " values on the stack");
          return stack_.back();
        }
        case '(': marks_.push_back(stack_.size()); break;    // MARK
        case '}': push(make(Kind::kDict)); break;
        case ']': push(make(Kind::kList)); break;
        case ')': push(make(Kind::kTuple)); break;
        case 't': {                                          // TUPLE
          auto t = make(Kind::kTuple);
          t->items = pop_mark();
          for (const auto& v : t->items) nest(t, v);
          push(t);
          break;
        }
        case 0x85: case 0x86: case 0x87: {                   // TUPLE1..3
          const size_t k = op - 0x84;
          need(k);
          auto t = make(Kind::kTuple);
          t->items.assign(stack_.end() - static_cast<long>(k), stack_.end());
          stack_.resize(stack_.size() - k);
          for (const auto& v : t->items) nest(t, v);
          push(t);
          break;
        }
        case 'N': push(make(Kind::kNone)); break;
        case 0x88: case 0x89: {
          auto b = make(Kind::kBool);
          b->b = op == 0x88;
          push(b);
          break;
        }
        case 'J': push(make_int(static_cast<int32_t>(le(4)))); break;   // BININT
        case 'K': push(make_int(static_cast<int64_t>(le(1)))); break;   // BININT1
        case 'M': push(make_int(static_cast<int64_t>(le(2)))); break;   // BININT2
        case 0x8a: case 0x8b: {                                        // LONG1, LONG4
          const uint64_t n = op == 0x8a ? le(1) : le(4);
          if (n > 64) fail("integer of " + std::to_string(n) + " bytes");
          const uint8_t* b = take(n);
          uint64_t v = 0;
          for (size_t i = 0; i < n && i < 8; ++i) v |= static_cast<uint64_t>(b[i]) << (8 * i);
          if (n > 0 && n < 8 && (b[n - 1] & 0x80)) v |= ~uint64_t(0) << (8 * n);  // sign-extend
          push(make_int(static_cast<int64_t>(v)));
          break;
        }
        case 'I': {                                                    // INT (text)
          const std::string s = line();
          if (s == "01" || s == "00") {
            auto b = make(Kind::kBool);
            b->b = s == "01";
            push(b);
          } else {
            push(make_int(parse_int(s)));
          }
          break;
        }
        case 'L': push(make_int(parse_int(line(), true))); break;      // LONG (text)
        case 'G': {                                                    // BINFLOAT (big-endian)
          const uint8_t* b = take(8);
          uint64_t v = 0;
          for (int i = 0; i < 8; ++i) v = (v << 8) | b[i];
          auto f = make(Kind::kFloat);
          std::memcpy(&f->f, &v, 8);
          push(f);
          break;
        }
        case 'X': push(make_str(Kind::kString, str(le(4)))); break;     // BINUNICODE
        case 0x8c: push(make_str(Kind::kString, str(le(1)))); break;    // SHORT_BINUNICODE
        case 0x8d: push(make_str(Kind::kString, str(le(8)))); break;    // BINUNICODE8
        case 'T': push(make_str(Kind::kString, str(le(4)))); break;     // BINSTRING
        case 'U': push(make_str(Kind::kString, str(le(1)))); break;     // SHORT_BINSTRING
        case 'B': push(make_str(Kind::kBytes, str(le(4)))); break;      // BINBYTES
        case 'C': push(make_str(Kind::kBytes, str(le(1)))); break;      // SHORT_BINBYTES
        case 0x8e: push(make_str(Kind::kBytes, str(le(8)))); break;     // BINBYTES8
        case 'q': memo_[le(1)] = top(); break;                        // BINPUT
        case 'r': memo_[le(4)] = top(); break;                        // LONG_BINPUT
        case 0x94: memo_[memo_.size()] = top(); break;                // MEMOIZE
        case 'p': memo_[static_cast<uint64_t>(parse_int(line()))] = top(); break;  // PUT
        case 'h': push(get(le(1))); break;                            // BINGET
        case 'j': push(get(le(4))); break;                            // LONG_BINGET
        case 'g': push(get(static_cast<uint64_t>(parse_int(line())))); break;  // GET
        case '0': pop(); break;                                       // POP
        case '1': pop_mark(); break;                                  // POP_MARK
        case '2': push(top()); break;                                 // DUP
        case 'c': {                                                   // GLOBAL
          std::string mod = line();
          std::string name = line();
          push(global(mod, name));
          break;
        }
        case 0x93: {                                                  // STACK_GLOBAL
          auto name = pop();
          auto mod = pop();
          if (mod->kind != Kind::kString || name->kind != Kind::kString) fail("STACK_GLOBAL needs two strings");
          push(global(mod->s, name->s));
          break;
        }
        case 'R': {                                                   // REDUCE
          auto args = pop();
          auto fn = pop();
          push(reduce(fn, args));
          break;
        }
        case 0x81: {                                                  // NEWOBJ
          auto args = pop();
          auto cls = pop();
          push(reduce(cls, args));
          break;
        }
        case 'b': {                                                   // BUILD: state is ignored
          pop();
          if (stack_.empty()) fail("BUILD on an empty stack");
          break;
        }
        case 'Q': push(persistent(pop())); break;                     // BINPERSID
        case 'a': {                                                   // APPEND
          auto v = pop();
          nest(top(), v);
          list_of(top())->items.push_back(v);
          break;
        }
        case 'e': {                                                   // APPENDS
          auto items = pop_mark();
          auto l = list_of(top());
          for (const auto& v : items) nest(l, v);
          l->items.insert(l->items.end(), items.begin(), items.end());
          break;
        }
        case 's': {                                                   // SETITEM
          auto v = pop();
          auto k = pop();
          set_item(top(), k, v);
          break;
        }
        case 'u': {                                                   // SETITEMS
          auto items = pop_mark();
          if (items.size() % 2) fail("SETITEMS with an odd number of values");
          for (size_t i = 0; i < items.size(); i += 2) set_item(top(), items[i], items[i + 1]);
          break;
        }
        default: {
          char buf[8];
          std::snprintf(buf, sizeof buf, "0x%02x", op);
          fail(std::string("unsupported pickle opcode ") + buf + " at byte " + std::to_string(p_ - begin_ - 1));
        }
      }
    }
  }

  size_t consumed() const { return static_cast<size_t>(p_ - begin_); }

 private:
  [[noreturn]] void fail(const std::string& why) const {
    throw ModelError(what_ + ": cannot read checkpoint: " + why + " (is the file complete and written by torch.save?)");
  }
  uint8_t byte() {
    if (p_ >= end_) fail("unexpected end of data (truncated file?)");
    return *p_++;
  }
  const uint8_t* take(uint64_t n) {
    if (n > static_cast<uint64_t>(end_ - p_)) fail("unexpected end of data (truncated file?)");
    const uint8_t* r = p_;
    p_ += n;
    return r;
  }
  uint64_t le(int n) {
    const uint8_t* b = take(static_cast<uint64_t>(n));
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; --i) v = (v << 8) | b[i];
    return v;
  }
  std::string str(uint64_t n) {
    const uint8_t* b = take(n);
    return std::string(reinterpret_cast<const char*>(b), n);
  }
  std::string line() {
    const uint8_t* s = p_;
    while (p_ < end_ && *p_ != '\n') ++p_;
    if (p_ >= end_) fail("unterminated text argument");
    std::string r(reinterpret_cast<const char*>(s), static_cast<size_t>(p_ - s));
    ++p_;
    return r;
  }
  int64_t parse_int(std::string s, bool long_suffix = false) {
    if (long_suffix && !s.empty() && s.back() == 'L') s.pop_back();
    try {
      size_t pos = 0;
      const long long v = std::stoll(s, &pos);
      if (pos != s.size()) fail("bad integer '" + s + "'");
      return v;
    } catch (const std::logic_error&) {
      fail("bad integer '" + s.substr(0, 20) + "'");
    }
  }
  void push(PyPtr v) {
    if (stack_.size() > 1000000) fail("stack too deep");
    stack_.push_back(std::move(v));
  }
  void need(size_t k) const {
    if (stack_.size() < k || (!marks_.empty() && stack_.size() - k < marks_.back())) fail("stack underflow");
  }
  PyPtr pop() {
    need(1);
    auto v = stack_.back();
    stack_.pop_back();
    return v;
  }
  const PyPtr& top() const {
    need(1);
    return stack_.back();
  }
  std::vector<PyPtr> pop_mark() {
    if (marks_.empty()) fail("no MARK on the stack");
    const size_t m = marks_.back();
    marks_.pop_back();
    if (m > stack_.size()) fail("corrupt MARK");
    std::vector<PyPtr> items(stack_.begin() + static_cast<long>(m), stack_.end());
    stack_.resize(m);
    return items;
  }
  PyPtr get(uint64_t k) const {
    auto it = memo_.find(k);
    if (it == memo_.end()) fail("memo key " + std::to_string(k) + " not found");
    return it->second;
  }
  PyPtr list_of(const PyPtr& v) const {
    if (v->kind != Kind::kList) fail("APPEND to a value that is not a list");
    return v;
  }
  // Containers record how deep they nest; checkpoints nest a few levels, so 200 is ample.
  void nest(const PyPtr& container, const PyPtr& item) const {
    if (item.get() == container.get()) fail("a container that contains itself");
    container->depth = std::max(container->depth, item->depth + 1);
    if (container->depth > 200) fail("values nested more than 200 deep");
  }
  void set_item(const PyPtr& d, const PyPtr& k, const PyPtr& v) const {
    if (d->kind != Kind::kDict) fail("SETITEM on a value that is not a dict");
    if (d->dict.size() > 10000000) fail("dict too large");
    nest(d, k);
    nest(d, v);
    d->dict.emplace_back(k, v);
  }
  PyPtr global(const std::string& mod, const std::string& name) const {
    const std::string full = mod + "." + name;
    torch::Dtype dt;
    if (!allowed_globals().count(full) && !storage_dtype(full, &dt))
      throw ModelError(what_ + ": refused to load: the pickle names the global '" + full +
                       "', which latentedit does not allow (only tensors, state_dicts and plain "
                       "containers load; nothing in a checkpoint is ever executed). Save a state_dict instead");
    return make_str(Kind::kGlobal, full);
  }
  static const std::vector<PyPtr>& tuple_items(const PyPtr& v) { return v->items; }
  int64_t as_int(const PyPtr& v, const char* what) const {
    if (v->kind == Kind::kInt) return v->i;
    if (v->kind == Kind::kBool) return v->b;
    fail(std::string(what) + " is not an integer");
  }
  std::vector<int64_t> int_tuple(const PyPtr& v, const char* what) const {
    if (v->kind != Kind::kTuple && v->kind != Kind::kList) fail(std::string(what) + " is not a tuple");
    std::vector<int64_t> out;
    for (const auto& x : v->items) out.push_back(as_int(x, what));
    return out;
  }
  torch::Tensor rebuild(const PyPtr& storage, const PyPtr& off, const PyPtr& size, const PyPtr& stride) const {
    if (storage->kind != Kind::kStorage) fail("tensor without a storage");
    const int64_t o = as_int(off, "storage offset");
    const auto sz = int_tuple(size, "tensor size");
    const auto st = int_tuple(stride, "tensor stride");
    if (sz.size() != st.size() || sz.size() > 16) fail("tensor size and stride disagree");
    const int64_t n = storage->tensor.numel();
    if (o < 0) fail("negative storage offset");
    int64_t last = o;
    bool empty = false;
    for (size_t i = 0; i < sz.size(); ++i) {
      if (sz[i] < 0 || st[i] < 0) fail("negative tensor size or stride");
      if (sz[i] == 0) empty = true;
      else if (sz[i] - 1 > 0 && st[i] > (INT64_MAX - last) / (sz[i] - 1)) fail("tensor extent overflows");
      else last += (sz[i] - 1) * st[i];
    }
    if (empty) return torch::empty(sz, storage->tensor.options());
    if (last >= n) fail("tensor extends past its storage (" + std::to_string(last) + " >= " + std::to_string(n) + ")");
    return storage->tensor.as_strided(sz, st, o);
  }
  PyPtr reduce(const PyPtr& fn, const PyPtr& args) {
    if (fn->kind != Kind::kGlobal) fail("REDUCE of something that is not an allowed global");
    if (args->kind != Kind::kTuple) fail("REDUCE arguments are not a tuple");
    const auto& a = tuple_items(args);
    const std::string& g = fn->s;
    if (g == "collections.OrderedDict") {
      auto d = make(Kind::kDict);
      if (!a.empty() && a[0]->kind == Kind::kList)
        for (const auto& kv : a[0]->items)
          if (kv->items.size() == 2) d->dict.emplace_back(kv->items[0], kv->items[1]);
      return d;
    }
    if (g == "torch._utils._rebuild_tensor_v2" || g == "torch._utils._rebuild_tensor") {
      if (a.size() < 4) fail(g + " with " + std::to_string(a.size()) + " arguments");
      auto t = make(Kind::kTensor);
      t->tensor = rebuild(a[0], a[1], a[2], a[3]);
      return t;
    }
    if (g == "torch._utils._rebuild_parameter") {
      if (a.empty() || a[0]->kind != Kind::kTensor) fail("_rebuild_parameter without a tensor");
      return a[0];
    }
    if (g == "torch.Size" || g == "builtins.set" || g == "__builtin__.set") {
      auto t = make(Kind::kTuple);
      if (!a.empty()) t->items = a[0]->items;
      return t;
    }
    if (g == "torch.device") {
      std::string s = a.empty() ? "" : a[0]->s;
      if (a.size() > 1 && a[1]->kind == Kind::kInt) s += ":" + std::to_string(a[1]->i);
      return make_str(Kind::kString, s);
    }
    if (g == "_codecs.encode") {
      if (a.empty() || a[0]->kind != Kind::kString) fail("_codecs.encode without a string");
      // latin1: each code point < 256 becomes one byte (the text is UTF-8 here).
      std::string out;
      const std::string& s = a[0]->s;
      for (size_t i = 0; i < s.size(); ++i) {
        const auto c = static_cast<uint8_t>(s[i]);
        if (c < 0x80) out += static_cast<char>(c);
        else if ((c & 0xe0) == 0xc0 && i + 1 < s.size()) {
          out += static_cast<char>(((c & 0x1f) << 6) | (static_cast<uint8_t>(s[i + 1]) & 0x3f));
          ++i;
        } else fail("_codecs.encode of a non-latin1 string");
      }
      return make_str(Kind::kBytes, out);
    }
    fail("the global " + g + " cannot be called");
  }
  PyPtr persistent(const PyPtr& pid) {
    if (pid->kind != Kind::kTuple || pid->items.size() < 5) fail("persistent id is not a storage tuple");
    const auto& a = pid->items;
    if (a[0]->kind != Kind::kString || a[0]->s != "storage") fail("persistent id is not a storage");
    if (a[1]->kind != Kind::kGlobal) fail("storage type is not a global");
    torch::Dtype dt;
    if (!storage_dtype(a[1]->s, &dt)) fail("unknown storage type " + a[1]->s);
    if (a[2]->kind != Kind::kString) fail("storage key is not a string");
    const std::string key = a[2]->s;
    const int64_t numel = as_int(a[4], "storage size");
    if (numel < 0) fail("negative storage size");
    auto it = storages_.find(key);
    torch::Tensor base;
    if (it != storages_.end()) {
      base = it->second;
    } else {
      base = storage_(key, dt, numel);
      storages_[key] = base;
    }
    auto s = make(Kind::kStorage);
    s->tensor = base;
    // Legacy view_metadata: (view_key, offset, size) into the root storage.
    if (a.size() > 5 && a[5]->kind == Kind::kTuple && a[5]->items.size() == 3) {
      const int64_t off = as_int(a[5]->items[1], "view offset"), n = as_int(a[5]->items[2], "view size");
      if (off < 0 || n < 0 || off + n > base.numel()) fail("storage view outside its root storage");
      s->tensor = base.narrow(0, off, n);
    }
    return s;
  }

  const uint8_t* p_;
  const uint8_t* end_;
  const uint8_t* begin_;
  std::string what_;
  StorageFn storage_;
  std::vector<PyPtr> stack_;
  std::vector<size_t> marks_;
  std::map<uint64_t, PyPtr> memo_;
  std::map<std::string, torch::Tensor> storages_;
};

size_t element_size(torch::Dtype dt) { return c10::elementSize(dt); }

}  // namespace

PyPtr unpickle(const uint8_t* data, size_t size, const std::string& what,
               const std::function<torch::Tensor(const std::string&, torch::Dtype, int64_t)>& storage,
               size_t* consumed) {
  Unpickler u(data, size, what, storage ? storage : [&](const std::string&, torch::Dtype, int64_t) -> torch::Tensor {
    throw ModelError(what + ": cannot read checkpoint: unexpected tensor storage in a plain pickle");
  });
  PyPtr v = u.run();
  if (consumed) *consumed = u.consumed();
  return v;
}

PyPtr parse_legacy_pth(const uint8_t* data, size_t size, const std::string& what) {
  size_t pos = 0, used = 0;
  auto next = [&](const Unpickler::StorageFn& fn) {
    PyPtr v = unpickle(data + pos, size - pos, what, fn, &used);
    pos += used;
    return v;
  };
  const PyPtr magic = next(nullptr);
  if (magic->kind != Kind::kInt || static_cast<uint64_t>(magic->i) != 0xa86a20f9469cfc6cULL)
    throw ModelError(what + ": not a PyTorch checkpoint (bad magic number; expected a file written by torch.save)");
  const PyPtr proto = next(nullptr);
  if (proto->kind != Kind::kInt || proto->i != 1001)
    throw ModelError(what + ": unsupported legacy checkpoint protocol (expected 1001)");
  next(nullptr);  // sys_info
  struct Pending {
    torch::Tensor t;
    int64_t numel;
  };
  std::map<std::string, Pending> pending;
  const uint64_t remaining = size - pos;
  const PyPtr root = next([&](const std::string& key, torch::Dtype dt, int64_t numel) {
    if (static_cast<uint64_t>(numel) > remaining / element_size(dt))
      throw ModelError(what + ": cannot read checkpoint: storage '" + key + "' is larger than the file (truncated file?)");
    torch::Tensor t = torch::zeros({numel}, torch::TensorOptions().dtype(dt));
    pending[key] = {t, numel};
    return t;
  });
  const PyPtr keys = next(nullptr);
  if (keys->kind != Kind::kList) throw ModelError(what + ": cannot read checkpoint: storage key list missing");
  for (const auto& k : keys->items) {
    if (k->kind != Kind::kString) throw ModelError(what + ": cannot read checkpoint: bad storage key");
    auto it = pending.find(k->s);
    if (it == pending.end()) throw ModelError(what + ": cannot read checkpoint: unknown storage key " + k->s);
    if (size - pos < 8) throw ModelError(what + ": cannot read checkpoint: truncated before storage " + k->s);
    int64_t n = 0;
    std::memcpy(&n, data + pos, 8);
    pos += 8;
    const size_t es = element_size(it->second.t.scalar_type());
    if (n != it->second.numel) throw ModelError(what + ": cannot read checkpoint: storage " + k->s + " has the wrong size");
    if (static_cast<uint64_t>(n) > (size - pos) / es)
      throw ModelError(what + ": cannot read checkpoint: storage " + k->s + " is truncated (file cut short?)");
    std::memcpy(it->second.t.data_ptr(), data + pos, static_cast<size_t>(n) * es);
    pos += static_cast<size_t>(n) * es;
    pending.erase(it);
  }
  if (!pending.empty()) throw ModelError(what + ": cannot read checkpoint: storage data missing (truncated file?)");
  return root;
}

namespace {
// The uncompressed size each member of a zip archive declares in its central directory (the
// names as stored, e.g. "archive/data/0"), read before anything is inflated: a small file must
// not make the reader allocate gigabytes. Empty when the directory cannot be found (the stream
// reader then reports the damage).
std::map<std::string, uint64_t> zip_declared_sizes(const std::string& b) {
  std::map<std::string, uint64_t> out;
  auto u16 = [&](size_t o) { return o + 2 <= b.size() ? uint64_t(uint8_t(b[o])) | uint64_t(uint8_t(b[o + 1])) << 8 : 0; };
  auto u32 = [&](size_t o) { return o + 4 <= b.size() ? u16(o) | u16(o + 2) << 16 : 0; };
  auto u64 = [&](size_t o) { return o + 8 <= b.size() ? u32(o) | u32(o + 4) << 32 : 0; };
  if (b.size() < 22) return out;
  size_t eocd = std::string::npos;
  for (size_t i = b.size() - 22 + 1; i-- > 0 && b.size() - i <= 22 + 65535;)
    if (u32(i) == 0x06054b50) {
      eocd = i;
      break;
    }
  if (eocd == std::string::npos) return out;
  uint64_t entries = u16(eocd + 10), at = u32(eocd + 16);
  if ((entries == 0xFFFF || at == 0xFFFFFFFF) && eocd >= 20 && u32(eocd - 20) == 0x07064b50) {  // zip64
    const uint64_t z = u64(eocd - 20 + 8);
    if (z + 56 <= b.size() && u32(z) == 0x06064b50) entries = u64(z + 32), at = u64(z + 48);
  }
  for (uint64_t e = 0; e < entries && at + 46 <= b.size(); ++e) {
    if (u32(at) != 0x02014b50) break;
    uint64_t usize = u32(at + 24);
    const uint64_t nlen = u16(at + 28), xlen = u16(at + 30), clen = u16(at + 32);
    if (at + 46 + nlen + xlen > b.size()) break;
    const std::string name = b.substr(at + 46, nlen);
    if (usize == 0xFFFFFFFF)  // the real size is in the zip64 extra field
      for (uint64_t x = at + 46 + nlen; x + 4 <= at + 46 + nlen + xlen;) {
        const uint64_t id = u16(x), len = u16(x + 2);
        if (id == 0x0001 && len >= 8) {
          usize = u64(x + 4);
          break;
        }
        x += 4 + len;
      }
    out[name] = usize;
    at += 46 + nlen + xlen + clen;
  }
  return out;
}

// The declared size of the record `rec` ("data.pkl", "data/0") whatever the archive's top folder.
std::optional<uint64_t> declared_size(const std::map<std::string, uint64_t>& sizes, const std::string& rec) {
  for (const auto& [name, size] : sizes) {
    const auto slash = name.find('/');
    if (slash != std::string::npos && name.compare(slash + 1, std::string::npos, rec) == 0) return size;
  }
  return std::nullopt;
}
}  // namespace

PyPtr load_pth(const std::string& path) {
  const std::string bytes = read_file(path, true);
  const auto* data = reinterpret_cast<const uint8_t*>(bytes.data());
  if (bytes.size() >= 4 && bytes.compare(0, 4, "PK\x03\x04") == 0) {
    std::unique_ptr<caffe2::serialize::PyTorchStreamReader> reader;
    try {
      reader = std::make_unique<caffe2::serialize::PyTorchStreamReader>(path);
    } catch (const c10::Error& e) {
      std::string m = e.what_without_backtrace();
      throw ModelError(path + ": corrupt zip checkpoint: " + m.substr(0, m.find('\n')) + " (re-save it with torch.save)");
    }
    if (!reader->hasRecord("data.pkl"))
      throw ModelError(path + ": zip archive has no data.pkl: not a torch.save checkpoint");
    const auto sizes = zip_declared_sizes(bytes);
    constexpr uint64_t kMaxPickle = 64ull << 20;
    if (declared_size(sizes, "data.pkl").value_or(0) > kMaxPickle)
      throw ModelError(path + ": data.pkl declares more than 64 MB; a state_dict's pickle is a few KB (not a checkpoint latentedit reads)");
    try {
      auto [pkl, n] = reader->getRecord("data.pkl");
      return unpickle(static_cast<const uint8_t*>(pkl.get()), n, path,
                      [&](const std::string& key, torch::Dtype dt, int64_t numel) {
                        const std::string rec = "data/" + key;
                        if (!reader->hasRecord(rec)) throw ModelError(path + ": zip checkpoint lacks storage record " + rec);
                        const uint64_t need = static_cast<uint64_t>(numel) * element_size(dt);
                        const auto declared = declared_size(sizes, rec);
                        if (!declared || *declared != need)
                          throw ModelError(path + ": storage record " + rec + " declares " +
                                           (declared ? std::to_string(*declared) : std::string("no")) + " bytes but its tensor needs " +
                                           std::to_string(need) + " (damaged or crafted file; re-save it with torch.save)");
                        auto [ptr, sz] = reader->getRecord(rec);
                        if (static_cast<uint64_t>(numel) > sz / element_size(dt))
                          throw ModelError(path + ": storage record " + rec + " is shorter than its tensor needs");
                        torch::Tensor t = torch::empty({numel}, torch::TensorOptions().dtype(dt));
                        std::memcpy(t.data_ptr(), ptr.get(), static_cast<size_t>(numel) * element_size(dt));
                        return t;
                      });
    } catch (const c10::Error& e) {
      std::string m = e.what_without_backtrace();
      throw ModelError(path + ": corrupt zip checkpoint: " + m.substr(0, m.find('\n')));
    }
  }
  if (bytes.size() >= 2 && data[0] == 0x80) return parse_legacy_pth(data, bytes.size(), path);
  throw ModelError(path + ": not a PyTorch checkpoint (neither a zip archive nor a pickle); expected a file from torch.save");
}

namespace {
bool tensor_dict(const PyPtr& v) {
  if (v->kind != Kind::kDict || v->dict.empty()) return false;
  for (const auto& [k, t] : v->dict)
    if (k->kind != Kind::kString || t->kind != Kind::kTensor) return false;
  return true;
}
NamedTensors flatten(const PyPtr& d) {
  NamedTensors out;
  for (const auto& [k, t] : d->dict) out.emplace_back(k->s, t->tensor.contiguous());
  return out;
}
}  // namespace

NamedTensors pth_state_dict(const PyPtr& root, const std::string& key, const std::string& what) {
  if (tensor_dict(root)) return flatten(root);
  if (root->kind == Kind::kDict) {
    std::string keys;
    std::vector<PyPtr> candidates;
    for (const auto& [k, v] : root->dict) {
      if (k->kind != Kind::kString) continue;
      keys += (keys.empty() ? "" : ", ") + k->s;
      if (k->s == key && tensor_dict(v)) return flatten(v);
      if (tensor_dict(v)) candidates.push_back(v);
    }
    if (candidates.size() == 1) return flatten(candidates[0]);
    throw ModelError(what + ": no state_dict under \"" + key + "\" (top-level keys: " + keys +
                     "); save {\"" + key + "\": model.state_dict()} or a bare state_dict");
  }
  throw ModelError(what + ": the checkpoint holds no state_dict (save model.state_dict(), not the model object)");
}

}  // namespace latentedit
