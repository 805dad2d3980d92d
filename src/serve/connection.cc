#include "serve/connection.h"
#include "io/fields.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>
#include <vector>

namespace latentedit::serve {
namespace {
using Clock = std::chrono::steady_clock;

struct Refusal {
  int status = 0;
  std::string message;
};
// Set by the connection queue around the task it runs: when the connection was accepted, and
// whether it is to be refused (waited too long, too many waiting) instead of served.
thread_local bool tl_has_accepted = false;
thread_local Clock::time_point tl_accepted;
thread_local Refusal tl_refusal;
class RequestMeter;
thread_local const RequestMeter* tl_meter = nullptr;  // the request being read on this thread

Clock::duration seconds(double s) { return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(s)); }

std::string format_seconds(double s) {
  char b[32];
  std::snprintf(b, sizeof b, "%g", s);
  return b;
}

// Connection threads with a bounded, timed wait. Tasks are httplib's "serve this socket"; a task
// that waited wait_s, or arrives when max_waiting wait already, runs at once with tl_refusal set,
// which answers 503 without reading the request (microseconds, so the accepting thread or the
// watcher can run it).
class ConnectionQueue : public httplib::TaskQueue {
 public:
  ConnectionQueue(int threads, std::size_t max_waiting, double wait_s) : max_waiting_(max_waiting), wait_(seconds(wait_s)) {
    for (int i = 0; i < threads; ++i) threads_.emplace_back([this] { work(); });
    watcher_ = std::thread([this] { watch(); });
  }
  ~ConnectionQueue() override = default;

  void enqueue(std::function<void()> fn) override {
    std::unique_lock<std::mutex> l(mu_);
    if (jobs_.size() >= max_waiting_) {
      l.unlock();
      refuse(fn, "the server is busy (" + std::to_string(max_waiting_) + " connections waiting for a thread); retry later");
      return;
    }
    jobs_.push_back({std::move(fn), Clock::now()});
    l.unlock();
    cv_.notify_one();
    watch_cv_.notify_one();
  }

  void shutdown() override {
    {
      std::lock_guard<std::mutex> l(mu_);
      shutdown_ = true;
    }
    cv_.notify_all();
    watch_cv_.notify_all();
    for (auto& t : threads_) t.join();
    watcher_.join();
  }

 private:
  struct Job {
    std::function<void()> fn;
    Clock::time_point since;
  };

  static void refuse(const std::function<void()>& fn, const std::string& why) {
    tl_refusal = {503, why};
    fn();
    tl_refusal = {};
  }

  void work() {
    for (;;) {
      Job job;
      {
        std::unique_lock<std::mutex> l(mu_);
        cv_.wait(l, [&] { return !jobs_.empty() || shutdown_; });
        if (jobs_.empty()) return;  // shut down
        job = std::move(jobs_.front());
        jobs_.pop_front();
      }
      tl_has_accepted = true;
      tl_accepted = job.since;
      job.fn();
      tl_has_accepted = false;
    }
  }

  // Answers the connections that have waited wait_s.
  void watch() {
    std::unique_lock<std::mutex> l(mu_);
    while (!shutdown_) {
      if (jobs_.empty()) {
        watch_cv_.wait(l);
        continue;
      }
      const auto due = jobs_.front().since + wait_;
      if (Clock::now() < due) {
        watch_cv_.wait_until(l, due);
        continue;
      }
      Job job = std::move(jobs_.front());
      jobs_.pop_front();
      l.unlock();
      refuse(job.fn, "no connection thread was free within the server's timeout of " +
                         format_seconds(std::chrono::duration<double>(wait_).count()) + " s; retry later");
      l.lock();
    }
  }

  std::size_t max_waiting_;
  Clock::duration wait_;
  std::mutex mu_;
  std::condition_variable cv_, watch_cv_;
  std::deque<Job> jobs_;
  bool shutdown_ = false;
  std::vector<std::thread> threads_;
  std::thread watcher_;
};

// Follows the bytes of one request as they are read: where the head (request line + headers)
// ends, its size, and the deadline the next byte must arrive by.
class RequestMeter {
 public:
  RequestMeter(const ConnectionLimits& l, bool timed) : lim_(l), timed_(timed), start_(Clock::now()) {}

  // Accounts n bytes just read; false (and refusal() set) when the head is too large.
  bool take(const char* p, std::size_t n) {
    for (std::size_t i = 0; i < n && !head_done_; ++i) {
      head_.push_back(p[i]);
      if (head_.size() >= 4 && head_.compare(head_.size() - 4, 4, "\r\n\r\n") == 0) {
        head_done_ = true;
        head_end_ = Clock::now();
        body_bytes_ = content_length();
      } else if (head_.size() > lim_.max_head_bytes) {
        refusal_ = {431, "the request line and headers exceed " + std::to_string(lim_.max_head_bytes / 1024) +
                             " KiB; send fewer or shorter headers"};
        return false;
      }
    }
    return true;
  }

  // When the next byte is due (time_point::max() when untimed).
  Clock::time_point deadline() const {
    if (!timed_) return Clock::time_point::max();
    if (!head_done_) return start_ + seconds(lim_.head_timeout_s);
    return head_end_ + seconds(lim_.head_timeout_s + static_cast<double>(body_bytes_) / lim_.min_body_rate);
  }

  void timed_out() {
    refusal_ = head_done_ ? Refusal{408, "the request body arrived slower than " + std::to_string(static_cast<int>(lim_.min_body_rate / 1024)) +
                                             " KiB/s; send it at once"}
                          : Refusal{408, "the request line and headers did not arrive within " + format_seconds(lim_.head_timeout_s) +
                                             " s (head_timeout); send them at once"};
  }
  const Refusal& refusal() const { return refusal_; }

 private:
  std::size_t content_length() const {
    const std::string h = ascii_lower(head_);
    const auto at = h.find("\r\ncontent-length:");
    if (at == std::string::npos) return 0;
    return static_cast<std::size_t>(std::strtoull(h.c_str() + at + 17, nullptr, 10));
  }

  const ConnectionLimits& lim_;
  bool timed_;
  Clock::time_point start_, head_end_;
  std::string head_;
  bool head_done_ = false;
  std::size_t body_bytes_ = 0;
  Refusal refusal_;
};

// httplib's Stream over a source of bytes, metered; once a refusal is set, httplib's own answer
// is dropped and the refusal is sent instead (finish()).
class MeteredStream : public httplib::Stream {
 public:
  explicit MeteredStream(RequestMeter& meter) : meter_(meter) {}

  ssize_t read(char* ptr, std::size_t size) override {
    if (refused()) return -1;
    if (pos_ == buf_.size()) {
      buf_.resize(4096);
      const ssize_t n = fill(buf_.data(), buf_.size());
      if (n <= 0) {
        buf_.clear(), pos_ = 0;
        return n;
      }
      buf_.resize(static_cast<std::size_t>(n)), pos_ = 0;
      if (!meter_.take(buf_.data(), buf_.size())) return -1;
    }
    const std::size_t k = std::min(size, buf_.size() - pos_);
    std::memcpy(ptr, buf_.data() + pos_, k);
    pos_ += k;
    return static_cast<ssize_t>(k);
  }
  ssize_t write(const char* ptr, std::size_t size) override {
    if (refused()) return static_cast<ssize_t>(size);  // httplib's 400 for the cut-off request: replaced
    return send(ptr, size);
  }
  bool is_readable() const override { return pos_ < buf_.size() || ready(); }
  bool is_writable() const override { return true; }

  bool refused() const { return meter_.refusal().status != 0; }
  // Sends the refusal, if any; the status sent (0: none).
  int finish() {
    if (!refused()) return 0;
    const std::string r = raw_refusal(meter_.refusal().status, meter_.refusal().message);
    send(r.data(), r.size());
    return meter_.refusal().status;
  }

 protected:
  virtual ssize_t fill(char* p, std::size_t n) = 0;
  virtual ssize_t send(const char* p, std::size_t n) = 0;
  virtual bool ready() const = 0;
  RequestMeter& meter_;

 private:
  std::string buf_;
  std::size_t pos_ = 0;
};

class SocketStream final : public MeteredStream {
 public:
  SocketStream(socket_t s, RequestMeter& m, double io_timeout_s) : MeteredStream(m), s_(s), io_(seconds(io_timeout_s)) {}

  void get_remote_ip_and_port(std::string& ip, int& port) const override { address(false, ip, port); }
  void get_local_ip_and_port(std::string& ip, int& port) const override { address(true, ip, port); }
  socket_t socket() const override { return s_; }

 protected:
  ssize_t fill(char* p, std::size_t n) override {
    if (!wait(POLLIN)) return -1;
    for (;;) {
      const ssize_t k = ::recv(s_, p, n, 0);
      if (k < 0 && errno == EINTR) continue;
      return k;
    }
  }
  ssize_t send(const char* p, std::size_t n) override {
    std::size_t done = 0;
    while (done < n) {
      pollfd f{s_, POLLOUT, 0};
      if (::poll(&f, 1, static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(io_).count())) <= 0) return -1;
      const ssize_t k = ::send(s_, p + done, n - done, MSG_NOSIGNAL);
      if (k < 0 && errno == EINTR) continue;
      if (k <= 0) return -1;
      done += static_cast<std::size_t>(k);
    }
    return static_cast<ssize_t>(n);
  }
  bool ready() const override {
    pollfd f{s_, POLLIN, 0};
    return ::poll(&f, 1, 0) > 0;
  }

 private:
  // Waits for the socket until the meter's deadline (then 408) or the I/O timeout.
  bool wait(short events) {
    for (;;) {
      const auto now = Clock::now();
      const auto due = meter_.deadline();
      const auto until = due - now < io_ ? due : now + io_;
      const auto ms = std::max<int64_t>(0, std::chrono::duration_cast<std::chrono::milliseconds>(until - now).count() + 1);
      pollfd f{s_, events, 0};
      const int r = ::poll(&f, 1, static_cast<int>(ms));
      if (r > 0) return true;
      if (r < 0 && errno == EINTR) continue;
      if (Clock::now() >= due) meter_.timed_out();
      return false;
    }
  }
  void address(bool local, std::string& ip, int& port) const {
    sockaddr_storage a{};
    socklen_t len = sizeof a;
    ip.clear(), port = 0;
    if ((local ? ::getsockname(s_, reinterpret_cast<sockaddr*>(&a), &len) : ::getpeername(s_, reinterpret_cast<sockaddr*>(&a), &len)) != 0) return;
    char b[INET6_ADDRSTRLEN] = {};
    if (a.ss_family == AF_INET) {
      const auto* v4 = reinterpret_cast<const sockaddr_in*>(&a);
      inet_ntop(AF_INET, &v4->sin_addr, b, sizeof b), port = ntohs(v4->sin_port);
    } else if (a.ss_family == AF_INET6) {
      const auto* v6 = reinterpret_cast<const sockaddr_in6*>(&a);
      inet_ntop(AF_INET6, &v6->sin6_addr, b, sizeof b), port = ntohs(v6->sin6_port);
    }
    ip = b;
  }

  socket_t s_;
  Clock::duration io_;
};

class MemoryStream final : public MeteredStream {
 public:
  MemoryStream(const std::string& in, RequestMeter& m) : MeteredStream(m), in_(in) {}
  std::string out;

  void get_remote_ip_and_port(std::string& ip, int& port) const override { ip = "127.0.0.1", port = 0; }
  void get_local_ip_and_port(std::string& ip, int& port) const override { ip = "127.0.0.1", port = 0; }
  socket_t socket() const override { return INVALID_SOCKET; }

 protected:
  ssize_t fill(char* p, std::size_t n) override {
    const std::size_t k = std::min(n, in_.size() - at_);
    std::memcpy(p, in_.data() + at_, k);
    at_ += k;
    return static_cast<ssize_t>(k);
  }
  ssize_t send(const char* p, std::size_t n) override {
    out.append(p, n);
    return static_cast<ssize_t>(n);
  }
  bool ready() const override { return at_ < in_.size(); }

 private:
  const std::string& in_;
  std::size_t at_ = 0;
};

struct MeterScope {
  explicit MeterScope(const RequestMeter* m) { tl_meter = m; }
  ~MeterScope() { tl_meter = nullptr; }
};

const char* reason(int status) {
  switch (status) {
    case 408: return "Request Timeout";
    case 431: return "Request Header Fields Too Large";
    case 503: return "Service Unavailable";
    default: return "Error";
  }
}

// Closes after reading what the client already sent, so that the close is a FIN, not a reset
// that could discard the answer on the client's side.
void close_gently(socket_t s) {
  ::shutdown(s, SHUT_WR);
  char b[4096];
  for (int i = 0; i < 64 && ::recv(s, b, sizeof b, MSG_DONTWAIT) > 0; ++i) {
  }
  ::close(s);
}
}  // namespace

bool connection_cut_off() { return tl_meter != nullptr && tl_meter->refusal().status != 0; }

std::chrono::steady_clock::time_point connection_accepted() { return tl_has_accepted ? tl_accepted : Clock::now(); }

std::string raw_refusal(int status, const std::string& message) {
  const std::string body = nlohmann::json{{"error", message}, {"status", status}}.dump();
  std::string r = "HTTP/1.1 " + std::to_string(status) + " " + reason(status) +
                  "\r\nContent-Type: application/json\r\nCache-Control: no-store\r\nConnection: close\r\n";
  if (status == 503) r += "Retry-After: 1\r\n";
  return r + "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
}

GuardedHttp::GuardedHttp(ConnectionLimits limits, std::function<void(const std::string&)> log) : lim_(limits), log_(std::move(log)) {
  const ConnectionLimits l = lim_;
  new_task_queue = [l] { return new ConnectionQueue(l.threads, l.max_waiting, l.wait_s); };
  set_keep_alive_max_count(1);
}

bool GuardedHttp::process_and_close_socket(socket_t sock) {
  if (tl_refusal.status != 0) {
    const std::string r = raw_refusal(tl_refusal.status, tl_refusal.message);
    (void)::send(sock, r.data(), r.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    close_gently(sock);
    if (log_) log_("(connection) " + std::to_string(tl_refusal.status) + " " + tl_refusal.message);
    return true;
  }
  RequestMeter meter(lim_, true);
  const MeterScope scope(&meter);
  bool ok = false;
  {
    SocketStream strm(sock, meter, 30);
    bool closed = false;
    ok = process_request(strm, /*close_connection=*/true, closed, nullptr);
    if (const int status = strm.finish(); status != 0 && log_) log_("(connection) " + std::to_string(status) + " " + meter.refusal().message);
  }
  close_gently(sock);
  return ok;
}

void GuardedHttp::set_backlog(int n) { ::listen(svr_sock_, n); }

std::string GuardedHttp::serve_bytes(const std::string& request) {
  RequestMeter meter(lim_, false);
  const MeterScope scope(&meter);
  MemoryStream strm(request, meter);
  bool closed = false;
  process_request(strm, true, closed, nullptr);
  strm.finish();
  return strm.out;
}

}  // namespace latentedit::serve
