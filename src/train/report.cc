#include "latentedit/train_report.h"

#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <sstream>

#include "io/json_read.h"
#include "latentedit/errors.h"

namespace latentedit {
namespace {
using json = nlohmann::json;

struct Series {
  std::string label;
  std::vector<cv::Point2d> pts;
  cv::Scalar color;
};

const std::vector<cv::Scalar>& palette() {
  static const std::vector<cv::Scalar> p = {{200, 80, 30}, {40, 40, 210}, {30, 150, 30}, {150, 40, 150}, {0, 140, 220}, {120, 120, 0}};
  return p;
}

std::string fmt(double v) {
  char b[32];
  const double a = std::fabs(v);
  if (a >= 1e4) std::snprintf(b, sizeof b, "%gk", v / 1000);
  else if (a != 0 && a < 1e-2) std::snprintf(b, sizeof b, "%.0e", v);
  else std::snprintf(b, sizeof b, "%.4g", v);
  return b;
}

// Round tick values (1, 2 or 5 x 10^k apart) covering [lo, hi], about five of them.
std::vector<double> nice_ticks(double lo, double hi) {
  const double raw = (hi - lo) / 4, mag = std::pow(10.0, std::floor(std::log10(raw)));
  const double f = raw / mag, step = (f < 1.5 ? 1 : f < 3.5 ? 2 : f < 7.5 ? 5 : 10) * mag;
  std::vector<double> t;
  const double start = std::ceil(lo / step) * step;
  // A range too narrow for its magnitude (1e17 .. 1e17 + 16: adding the step changes nothing) or
  // not finite: its two ends, instead of a loop that never ends.
  if (!std::isfinite(start) || !(step > 0) || start + step == start) return lo == hi ? std::vector<double>{lo} : std::vector<double>{lo, hi};
  for (int i = 0; i < 100; ++i) {
    const double v = start + i * step;
    if (v > hi + 1e-9 * step) break;
    t.push_back(std::fabs(v) < 1e-12 * step ? 0.0 : v);
  }
  return t;
}

// A line chart in `area` of `img`: x = step, y linear or log10; a legend inside the frame;
// `ref` > 0 draws a grey horizontal reference line (a threshold) at that value.
void chart(cv::Mat& img, cv::Rect area, const std::string& title, const std::vector<Series>& series, bool log_y,
           double ref = std::numeric_limits<double>::quiet_NaN()) {
  const auto font = cv::FONT_HERSHEY_SIMPLEX;
  const cv::Scalar black(0, 0, 0), grey(215, 215, 215);
  const int L = area.x + 62, R = area.x + area.width - 24, T = area.y + 28, B = area.y + area.height - 42;
  cv::putText(img, title, {area.x + 8, area.y + 18}, font, 0.5, black, 1, cv::LINE_AA);
  double x0 = std::numeric_limits<double>::infinity(), x1 = -x0, y0 = x0, y1 = -x0;
  auto ty = [&](double v) { return log_y ? std::log10(v) : v; };
  for (const auto& s : series)
    for (const auto& p : s.pts) {
      if (!std::isfinite(p.y) || (log_y && p.y <= 0)) continue;
      x0 = std::min(x0, p.x), x1 = std::max(x1, p.x), y0 = std::min(y0, ty(p.y)), y1 = std::max(y1, ty(p.y));
    }
  if (std::isfinite(ref) && (!log_y || ref > 0)) y0 = std::min(y0, ty(ref)), y1 = std::max(y1, ty(ref));
  cv::rectangle(img, {L, T}, {R, B}, black, 1);
  if (!(x1 >= x0) || !(y1 >= y0)) {
    cv::putText(img, "(no data)", {L + 10, (T + B) / 2}, font, 0.45, black, 1, cv::LINE_AA);
    return;
  }
  if (log_y) y0 = std::floor(y0), y1 = std::ceil(y1);
  if (y1 - y0 < 1e-12) y0 -= 0.5, y1 += 0.5;
  if (!log_y) {
    const double pad = 0.05 * (y1 - y0);
    y0 -= pad, y1 += pad;
  }
  if (x1 - x0 < 1e-12) x1 = x0 + 1;
  auto X = [&](double x) { return L + static_cast<int>(std::lround((x - x0) / (x1 - x0) * (R - L))); };
  auto Y = [&](double y) { return B - static_cast<int>(std::lround((ty(y) - y0) / (y1 - y0) * (B - T))); };
  // y ticks: decades (log) or 5 even steps.
  std::vector<double> yt;
  if (log_y) {
    const int step = std::max(1, static_cast<int>(std::ceil((y1 - y0) / 6)));
    for (double e = y0; e <= y1 + 1e-9; e += step) yt.push_back(std::pow(10.0, e));
  } else {
    yt = nice_ticks(y0, y1);
  }
  for (double v : yt) {
    const int y = Y(v);
    cv::line(img, {L + 1, y}, {R - 1, y}, grey, 1);
    cv::putText(img, fmt(v), {area.x + 4, y + 4}, font, 0.36, black, 1, cv::LINE_AA);
  }
  for (double v : nice_ticks(x0, x1)) {
    const int x = X(v);
    cv::line(img, {x, B}, {x, B + 4}, black, 1);
    cv::putText(img, fmt(v), {x - 12, B + 16}, font, 0.36, black, 1, cv::LINE_AA);
  }
  if (std::isfinite(ref) && (!log_y || ref > 0)) cv::line(img, {L + 1, Y(ref)}, {R - 1, Y(ref)}, cv::Scalar(120, 120, 120), 1);
  for (const auto& s : series) {
    cv::Point prev(-1, -1);
    for (const auto& p : s.pts) {
      if (!std::isfinite(p.y) || (log_y && p.y <= 0)) {
        prev = {-1, -1};
        continue;
      }
      const cv::Point q(X(p.x), Y(p.y));
      if (prev.x >= 0) cv::line(img, prev, q, s.color, 2, cv::LINE_AA);
      else cv::circle(img, q, 2, s.color, cv::FILLED, cv::LINE_AA);
      prev = q;
    }
  }
  // The legend in one row under the axis, so it never hides a line.
  int lx = L, ly = B + 27;
  for (const auto& s : series) {
    const int w = 25 + cv::getTextSize(s.label, font, 0.4, 1, nullptr).width;
    if (lx > L && lx + w > R) lx = L, ly += 14;  // wrap to a second row
    cv::line(img, {lx, ly}, {lx + 20, ly}, s.color, 2, cv::LINE_AA);
    cv::putText(img, s.label, {lx + 25, ly + 4}, font, 0.4, black, 1, cv::LINE_AA);
    lx += w + 18;
  }
}

// (step, value) of `key` in the log (nested keys: "diagnostics.pairwise_ratio").
std::vector<cv::Point2d> column(const std::vector<json>& log, const std::string& key) {
  std::vector<cv::Point2d> out;
  const auto dot = key.find('.');
  for (const auto& r : log) {
    if (!r.is_object() || !r.contains("step") || !r["step"].is_number()) continue;
    const json* v = &r;
    if (dot != std::string::npos) {
      if (!r.contains(key.substr(0, dot)) || !r[key.substr(0, dot)].is_object()) continue;
      v = &r[key.substr(0, dot)];
    }
    const std::string k = dot == std::string::npos ? key : key.substr(dot + 1);
    if (!v->contains(k) || !(*v)[k].is_number()) continue;
    out.emplace_back(r["step"].get<double>(), (*v)[k].get<double>());
  }
  std::stable_sort(out.begin(), out.end(), [](const cv::Point2d& a, const cv::Point2d& b) { return a.x < b.x; });
  return out;
}

struct Panel {
  std::string title;
  std::vector<std::pair<std::string, std::string>> metrics;  // (log key, legend label)
  bool log_y;
  double ref;
};

const std::vector<Panel>& panels() {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  static const std::vector<Panel> p = {
      {"losses", {{"d_loss", "D loss"}, {"g_loss", "G loss"}}, false, nan},
      {"gradient reaching G (log scale)", {{"g_grad_norm", "|dG loss/d params|"}, {"g_logit_grad", "|dG loss/d D logit| (RMS)"}}, true, nan},
      {"discriminator outputs", {{"d_real", "mean D(x)"}, {"d_fake", "mean D(G(z))"}}, false, nan},
      {"diversity vs data (collapse below 0.5)", {{"diagnostics.pairwise_ratio", "pairwise distance ratio"}, {"diagnostics.duplicate_share", "near-duplicate share"}}, false, 0.5},
      {"attribute frequency gap (judge)", {{"diagnostics.frequency_gap", "mean |gen - data|"}, {"diagnostics.max_frequency_gap", "largest"}}, false, nan},
      {"Frechet distance, judge features", {{"diagnostics.frechet", "generated vs data"}}, false, nan},
  };
  return p;
}

// Comparing runs: one metric per panel, one line per run.
const std::vector<Panel>& comparison_panels() {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  static const std::vector<Panel> p = {
      {"G's parameter-gradient norm (log scale)", {{"g_grad_norm", ""}}, true, nan},
      {"|dG loss/d D logit on G(z)|, RMS (log scale)", {{"g_logit_grad", ""}}, true, nan},
      {"mean D(G(z))", {{"d_fake", ""}}, false, nan},
      {"mean D(x)", {{"d_real", ""}}, false, nan},
      {"D loss", {{"d_loss", ""}}, false, nan},
      {"G loss", {{"g_loss", ""}}, false, nan},
      {"pairwise distance ratio vs data (collapse < 0.5)", {{"diagnostics.pairwise_ratio", ""}}, false, 0.5},
      {"attribute frequency gap (judge), mean", {{"diagnostics.frequency_gap", ""}}, false, nan},
      {"Frechet distance, judge features", {{"diagnostics.frechet", ""}}, false, nan},
  };
  return p;
}

void put_label(cv::Mat& img, const std::string& s, cv::Point at) {
  cv::putText(img, s, at, cv::FONT_HERSHEY_SIMPLEX, 0.45, cv::Scalar(0, 0, 0), 1, cv::LINE_AA);
}
}  // namespace

std::vector<json> parse_json_lines(const std::string& text, const std::string& what) {
  std::vector<json> out;
  std::istringstream in(text);
  std::string line;
  int n = 0;
  while (std::getline(in, line)) {
    ++n;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    out.push_back(parse_json(line, what + ":" + std::to_string(n), ErrorKind::kInput));  // nesting-bounded reader
  }
  return out;
}

json training_summary(const TrainingRun& run, int64_t early_steps) {
  double seconds = 0, segment = 0;
  std::vector<double> grad, logit;
  json last, diag, settings;
  for (const auto& r : run.log) {
    if (!r.is_object()) continue;
    if (r.contains("event")) {
      seconds += segment;
      segment = 0;
      if (r.contains("settings")) settings = r["settings"];
      continue;
    }
    if (!r.contains("step") || !r["step"].is_number()) continue;
    if (r.contains("seconds") && r["seconds"].is_number()) segment = std::max(segment, r["seconds"].get<double>());
    last = r;
    if (r.contains("diagnostics")) diag = r["diagnostics"];
    if (r["step"].get<int64_t>() <= early_steps) {
      if (r.contains("g_grad_norm") && r["g_grad_norm"].is_number()) grad.push_back(r["g_grad_norm"]);
      if (r.contains("g_logit_grad") && r["g_logit_grad"].is_number()) logit.push_back(r["g_logit_grad"]);
    }
  }
  seconds += segment;
  auto median = [](std::vector<double> v) -> json {
    if (v.empty()) return nullptr;
    std::nth_element(v.begin(), v.begin() + v.size() / 2, v.end());
    return v[v.size() / 2];
  };
  json out = {{"name", run.name}, {"seconds", seconds}, {"early_steps", early_steps},
              {"early_g_grad_norm_median", median(grad)}, {"early_g_logit_grad_median", median(logit)},
              {"diagnostics", diag}, {"settings", settings}};
  for (const char* k : {"step", "d_updates", "d_loss", "g_loss", "d_real", "d_fake"})
    out[k] = last.is_object() && last.contains(k) ? last[k] : json(nullptr);
  return out;
}

cv::Mat training_report(const std::vector<TrainingRun>& runs, const std::string& title, int sample_rows) {
  const int W = 1500, PW = W / 3, PH = 300, top = 44;
  const bool multi = runs.size() > 1;
  // The sample block: one run -> rows over time; several -> each run's last row.
  std::vector<std::pair<std::string, cv::Mat>> rows;
  if (!multi && !runs.empty()) {
    const auto& s = runs[0].samples;
    const int n = static_cast<int>(s.size()), k = std::min(n, std::max(1, sample_rows));
    int last = -1;
    for (int i = 0; i < k; ++i) {
      const int idx = k == 1 ? n - 1 : static_cast<int>(std::lround(static_cast<double>(i) * (n - 1) / (k - 1)));
      if (idx == last) continue;
      last = idx;
      rows.emplace_back("step " + std::to_string(s[idx].first), s[idx].second);
    }
  } else {
    for (const auto& r : runs)
      if (!r.samples.empty()) rows.emplace_back(r.name + " (step " + std::to_string(r.samples.back().first) + ")", r.samples.back().second);
  }
  int rows_h = 0;
  const int label_w = 230;
  std::vector<cv::Mat> scaled;
  for (const auto& [label, m] : rows) {
    cv::Mat s = m;
    const double f = std::min(2.0, static_cast<double>(W - label_w - 20) / std::max(1, m.cols));
    if (f != 1.0) cv::resize(m, s, {}, f, f, f > 1 ? cv::INTER_NEAREST : cv::INTER_AREA);
    scaled.push_back(s);
    rows_h += s.rows + 8;
  }
  const int panel_rows = static_cast<int>((multi ? comparison_panels() : panels()).size() + 2) / 3;
  const int grid_top = top + panel_rows * PH + (rows.empty() ? 0 : 30);
  cv::Mat img(grid_top + rows_h + 10, W, CV_8UC3, cv::Scalar(255, 255, 255));
  cv::putText(img, title, {12, 30}, cv::FONT_HERSHEY_SIMPLEX, 0.7, cv::Scalar(0, 0, 0), 1, cv::LINE_AA);
  const std::string xnote = "x axes: generator updates (steps)";
  cv::putText(img, xnote, {W - 16 - cv::getTextSize(xnote, cv::FONT_HERSHEY_SIMPLEX, 0.45, 1, nullptr).width, 30},
              cv::FONT_HERSHEY_SIMPLEX, 0.45, cv::Scalar(90, 90, 90), 1, cv::LINE_AA);
  const auto& ps = multi ? comparison_panels() : panels();
  for (size_t i = 0; i < ps.size(); ++i) {
    const Panel& p = ps[i];
    std::vector<Series> series;
    if (!multi) {
      for (size_t m = 0; m < p.metrics.size(); ++m)
        series.push_back({p.metrics[m].second, column(runs.empty() ? std::vector<json>{} : runs[0].log, p.metrics[m].first),
                          palette()[m % palette().size()]});
    } else {
      // One line per run, of the panel's first metric.
      for (size_t r = 0; r < runs.size(); ++r)
        series.push_back({runs[r].name, column(runs[r].log, p.metrics[0].first), palette()[r % palette().size()]});
    }
    chart(img, {static_cast<int>(i % 3) * PW, top + static_cast<int>(i / 3) * PH, PW, PH}, p.title, series, p.log_y, p.ref);
  }
  if (!rows.empty()) put_label(img, multi ? "last samples of each run (fixed latents)" : "samples from fixed latents during training",
                               {12, grid_top - 10});
  int y = grid_top;
  for (size_t i = 0; i < rows.size(); ++i) {
    put_label(img, rows[i].first, {12, y + scaled[i].rows / 2 + 5});
    const cv::Mat& s = scaled[i];
    const int w = std::min(s.cols, W - label_w - 10);
    s(cv::Rect(0, 0, w, s.rows)).copyTo(img(cv::Rect(label_w, y, w, s.rows)));
    y += s.rows + 8;
  }
  return img;
}

}  // namespace latentedit
