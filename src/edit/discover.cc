#include "latentedit/discover.h"

#include <torch/script.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <map>
#include <numeric>

#include "latentedit/attributes.h"
#include "latentedit/editor.h"
#include "latentedit/errors.h"
#include "latentedit/image.h"

namespace latentedit {
namespace {
using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

// The course generator's named tensors (parameters and buffers).
// A TorchScript generator's are read from the module where it keeps them (a traced or scripted
// course generator: "gen.0.0.weight", ...); a frozen one holds them as constants and is refused.
std::map<std::string, torch::Tensor> generator_tensors(const Network& g) {
  std::map<std::string, torch::Tensor> t;
  if (g.arch == "torchscript" && g.holder) {
    const auto mod = std::static_pointer_cast<torch::jit::Module>(g.holder);
    for (const auto& p : mod->named_parameters(true)) t[p.name] = p.value;
    for (const auto& b : mod->named_buffers(true)) t[b.name] = b.value;
    if (t.empty())
      throw UsageError("the TorchScript generator " + g.source +
                       " keeps no weights as parameters (frozen?): discovery needs its first layer's weight; export it without "
                       "torch.jit.freeze, or load the course .pth or a bundle");
    return t;
  }
  if (!g.module)
    throw UsageError("discovering directions needs the generator's weights; a " + (g.arch.empty() ? std::string("TorchScript") : g.arch) +
                     " generator does not expose them (load the course .pth or a bundle instead)");
  for (const auto& p : g.module->named_parameters()) t[p.key()] = p.value();
  for (const auto& b : g.module->named_buffers()) t[b.key()] = b.value();
  return t;
}

const torch::Tensor& need(const std::map<std::string, torch::Tensor>& t, const std::string& name) {
  auto it = t.find(name);
  if (it == t.end()) throw UsageError("the generator has no " + name + " (not the course architecture); discovery needs its first layer");
  return it->second;
}

std::string signed_name(const std::string& attribute, double d) { return (d >= 0 ? "+" : "-") + attribute; }

// Attribute indices by |delta_p|, largest first.
std::vector<size_t> by_magnitude(const std::vector<double>& delta_p) {
  std::vector<size_t> order(delta_p.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return std::fabs(delta_p[a]) > std::fabs(delta_p[b]); });
  return order;
}
}  // namespace

torch::Tensor first_layer_weight(const Network& generator, int64_t z_dim) {
  const torch::Tensor w = need(generator_tensors(generator), "gen.0.0.weight").detach().to(torch::kFloat);
  if (w.dim() != 4 || w.size(0) != z_dim)
    throw UsageError("the generator's first layer weight has shape " + std::string(c10::str(w.sizes())) + ", not (z_dim=" +
                     std::to_string(z_dim) + ", out, kh, kw)");
  return w;
}

std::pair<torch::Tensor, torch::Tensor> sefa_directions(const torch::Tensor& first_weight, int count) {
  torch::NoGradGuard ng;
  const int64_t z_dim = first_weight.size(0);
  if (count < 1 || count > z_dim) throw UsageError("count: " + std::to_string(count) + " directions; use 1.." + std::to_string(z_dim) + " (z_dim)");
  // A = W as (out*kh*kw) x z_dim; A^T A = W_flat W_flat^T with W_flat (z_dim, out*kh*kw). In float64.
  const torch::Tensor wf = first_weight.reshape({z_dim, -1}).to(torch::kDouble);
  const auto [values, vectors] = torch::linalg::eigh(wf.matmul(wf.t()), "L");  // ascending
  const torch::Tensor order = torch::arange(z_dim - 1, z_dim - 1 - count, -1, torch::kLong);
  torch::Tensor v = vectors.index_select(1, order).t().contiguous();  // (K, z_dim)
  // A sign convention, so that results do not depend on the solver: the largest component positive.
  const torch::Tensor sign = v.gather(1, v.abs().argmax(1, true)).sign();
  v = v * sign;
  return {v.to(torch::kFloat), values.index_select(0, order).to(torch::kFloat)};
}

torch::Tensor first_layer_activations(const Network& generator, const torch::Tensor& z) {
  torch::NoGradGuard ng;
  const auto t = generator_tensors(generator);
  const torch::Tensor w = need(t, "gen.0.0.weight"), b = need(t, "gen.0.0.bias");
  torch::Tensor x = torch::conv_transpose2d(z.view({z.size(0), z.size(1), 1, 1}), w, b, 2);
  x = torch::batch_norm(x, need(t, "gen.0.1.weight"), need(t, "gen.0.1.bias"), need(t, "gen.0.1.running_mean"),
                        need(t, "gen.0.1.running_var"), false, 0.1, 1e-5, false);
  return torch::relu(x).flatten(1);
}

std::pair<torch::Tensor, torch::Tensor> ganspace_directions(const std::function<torch::Tensor(const torch::Tensor&)>& activations,
                                                            int64_t z_dim, int count, int64_t samples, uint64_t seed) {
  torch::NoGradGuard ng;
  if (count < 1 || count > z_dim) throw UsageError("count: " + std::to_string(count) + " directions; use 1.." + std::to_string(z_dim) + " (z_dim)");
  if (samples < 2 * z_dim)
    throw UsageError("GANSpace needs at least 2 x z_dim = " + std::to_string(2 * z_dim) + " sampled latents; got " + std::to_string(samples));
  const torch::Tensor z = sample_latents(seed, samples, z_dim).to(torch::kDouble);
  std::vector<torch::Tensor> parts;
  for (int64_t i = 0; i < samples; i += 1024) parts.push_back(activations(z.slice(0, i, std::min(samples, i + 1024)).to(torch::kFloat)));
  const torch::Tensor a = torch::cat(parts).to(torch::kDouble);
  const torch::Tensor centred = a - a.mean(0, true);
  // PCA by SVD of the centred activations: components are V's first K columns.
  const auto [u, s, vh] = torch::linalg::svd(centred, false, c10::nullopt);
  const torch::Tensor var = s.pow(2);
  const torch::Tensor scores = u.slice(1, 0, count) * s.slice(0, 0, count);  // (N, K) component scores
  // z regressed on each component's score alone (the paper's per-component regression):
  // u_k = argmin_u sum_j || x_jk u - z_j ||^2 = z^T x_k / (x_k^T x_k).
  torch::Tensor dirs = scores.t().matmul(z) / scores.pow(2).sum(0).unsqueeze(1);  // (K, z_dim)
  dirs = dirs / dirs.norm(2, 1, true);
  const torch::Tensor sign = dirs.gather(1, dirs.abs().argmax(1, true)).sign();
  dirs = dirs * sign;
  return {dirs.to(torch::kFloat), (var.slice(0, 0, count) / var.sum()).to(torch::kFloat)};
}

DirectionEffect measure_direction(const Models& m, const torch::Tensor& v, const DiscoverOptions& o) {
  torch::NoGradGuard ng;
  const torch::Tensor z = sample_latents(o.seed + 1, o.effect_samples, m.z_dim);
  const torch::Tensor step = v.reshape({1, -1}).to(torch::kFloat) * o.strength;
  const torch::Tensor plus = generate(m, z + step), minus = generate(m, z - step);
  DirectionEffect e;
  auto delta = [&](const Network& net) {
    const torch::Tensor d = (torch::sigmoid(classify(net, plus)) - torch::sigmoid(classify(net, minus))).mean(0).to(torch::kDouble);
    return std::vector<double>(d.data_ptr<double>(), d.data_ptr<double>() + d.numel());
  };
  e.delta_p = delta(m.classifier);
  if (m.auditor) e.auditor_delta_p = delta(*m.auditor);
  const torch::Tensor diff = (plus - minus).abs().mean(1);  // (N, H, W)
  const int64_t h = diff.size(1), w = diff.size(2);
  torch::Tensor centre_mask = torch::zeros({h, w});
  centre_mask.slice(0, h / 4, h - h / 4).slice(1, w / 4, w - w / 4).fill_(1);
  const double total = diff.sum().item<double>(), centre = (diff * centre_mask).sum().item<double>();
  const double n_centre = centre_mask.sum().item<double>(), n_all = static_cast<double>(h * w * diff.size(0));
  e.pixel_centre = centre / (n_centre * static_cast<double>(diff.size(0)));
  e.pixel_border = (total - centre) / (n_all - n_centre * static_cast<double>(diff.size(0)));
  return e;
}

std::string name_direction(int index, const DirectionEffect& e, const std::vector<std::string>& attributes, bool* dominant) {
  constexpr double kClear = 0.10;  // |delta_p| that counts as a change
  const std::vector<size_t> order = by_magnitude(e.delta_p);
  auto confirmed = [&](size_t c) {  // the auditor moves the same way (or there is none)
    return e.auditor_delta_p.empty() || (e.auditor_delta_p[c] * e.delta_p[c] > 0 && std::fabs(e.auditor_delta_p[c]) >= kClear / 2);
  };
  const double top = order.empty() ? 0 : std::fabs(e.delta_p[order[0]]);
  const double second = order.size() < 2 ? 0 : std::fabs(e.delta_p[order[1]]);
  if (dominant) *dominant = top >= kClear && top >= 2 * second;
  std::string name = "#" + std::to_string(index);
  if (top >= kClear && confirmed(order[0])) {
    name += " " + signed_name(attributes[order[0]], e.delta_p[order[0]]);
    if (second >= kClear && second >= top / 2 && confirmed(order[1])) name += " " + signed_name(attributes[order[1]], e.delta_p[order[1]]);
    return name;
  }
  return name + (e.pixel_border > 1.2 * e.pixel_centre ? " (background)" : " (unnamed)");
}

Discovered discover_directions(const Models& m, const DiscoverOptions& o, const std::function<void(const std::string&)>& progress) {
  if (o.method != "sefa" && o.method != "ganspace") throw UsageError("discover: \"" + o.method + "\" is not a method; use sefa or ganspace");
  if (o.effect_samples < 1 || o.strength <= 0 || !std::isfinite(o.strength))
    throw UsageError("discover: the effect needs at least one latent and a finite strength > 0");
  Discovered d;
  d.method = o.method;
  d.options = o;
  auto t0 = Clock::now();
  torch::Tensor vectors, values;
  if (o.method == "sefa") {
    std::tie(vectors, values) = sefa_directions(first_layer_weight(m.generator, m.z_dim), o.count);
  } else {
    first_layer_weight(m.generator, m.z_dim);  // refuses generators without reachable weights
    std::tie(vectors, values) = ganspace_directions([&](const torch::Tensor& z) { return first_layer_activations(m.generator, z); },
                                                    m.z_dim, o.count, o.samples, o.seed);
  }
  d.seconds_find = std::chrono::duration<double>(Clock::now() - t0).count();
  if (progress) progress(o.method + ": " + std::to_string(o.count) + " directions in " + std::to_string(d.seconds_find) + " s; measuring their effects");
  t0 = Clock::now();
  for (int k = 0; k < o.count; ++k) {
    DiscoveredDirection x;
    x.index = k + 1;
    x.vector = vectors[k].clone();
    x.value = values[k].item<double>();
    x.effect = measure_direction(m, x.vector, o);
    x.name = name_direction(x.index, x.effect, m.attributes, &x.dominant);
    d.directions.push_back(std::move(x));
    if (progress) progress(d.directions.back().name);
  }
  d.seconds_measure = std::chrono::duration<double>(Clock::now() - t0).count();
  return d;
}

NamedTensors discovered_tensors(const Discovered& d) {
  std::vector<torch::Tensor> v, val;
  for (const auto& x : d.directions) v.push_back(x.vector), val.push_back(torch::tensor(static_cast<float>(x.value)));
  return {{d.method + ".vectors", torch::stack(v).contiguous()}, {d.method + ".values", torch::stack(val).contiguous()}};
}

json discovered_record(const Discovered& d, const std::vector<std::string>& attributes) {
  auto table = [&](const std::vector<double>& x) {
    json j = json::object();
    for (size_t c = 0; c < x.size(); ++c) j[attributes[c]] = std::round(x[c] * 1e4) / 1e4;
    return j;
  };
  json dirs = json::array();
  for (const auto& x : d.directions) {
    json e = {{"index", x.index}, {"name", x.name}, {"dominant", x.dominant}, {"value", x.value}, {"delta_p", table(x.effect.delta_p)},
              {"pixel_change", {{"centre", x.effect.pixel_centre}, {"border", x.effect.pixel_border}}}};
    if (!x.effect.auditor_delta_p.empty()) e["auditor_delta_p"] = table(x.effect.auditor_delta_p);
    dirs.push_back(e);
  }
  return {{"count", d.directions.size()}, {"value", d.method == "sefa" ? "eigenvalue of A^T A" : "fraction of the first layer's activation variance"},
          {"samples", d.method == "ganspace" ? json(d.options.samples) : json(nullptr)}, {"effect_samples", d.options.effect_samples},
          {"strength", d.options.strength}, {"seed", d.options.seed}, {"seconds", {{"find", d.seconds_find}, {"measure", d.seconds_measure}}},
          {"directions", dirs}};
}

std::string direction_sheet(const Models& m, const Discovered& d, int latents, uint64_t seed) {
  torch::NoGradGuard ng;
  const std::vector<double> strengths = {-3, -2, -1, 0, 1, 2, 3};
  const torch::Tensor z = sample_latents(seed, latents, m.z_dim);
  std::vector<std::vector<torch::Tensor>> cells;
  GridSpec spec;
  spec.title = d.method + ": " + std::to_string(d.directions.size()) + " directions found without labels (" + m.name + ")";
  spec.subtitle = "columns: strength -3 .. +3 (z units) on " + std::to_string(latents) + " fixed latents (seed " + std::to_string(seed) +
                  "); left: the name, then the two largest changes of the classifier's p over -3..+3";
  for (int l = 0; l < latents; ++l)
    for (double s : strengths) spec.column_labels.push_back((s > 0 ? "+" : "") + std::to_string(static_cast<int>(s)));
  for (const auto& x : d.directions) {
    std::vector<torch::Tensor> zs;
    for (int l = 0; l < latents; ++l)
      for (double s : strengths) zs.push_back(z[l] + x.vector * s);
    const torch::Tensor img = generate(m, torch::stack(zs));
    std::vector<torch::Tensor> row;
    for (int64_t i = 0; i < img.size(0); ++i) row.push_back(img[i]);
    cells.push_back(row);
    const std::vector<size_t> order = by_magnitude(x.effect.delta_p);
    // Lines (make_grid splits at ';'): the name, one part per line, then the two largest changes.
    std::string label;
    {
      std::string name = x.name;
      const size_t second = name.find(' ', name.find(' ') + 1);
      label = second == std::string::npos ? name : name.substr(0, second) + ";   " + name.substr(second + 1);
    }
    for (size_t i = 0; i < std::min<size_t>(2, order.size()); ++i) {
      char b[96];
      std::snprintf(b, sizeof b, ";  %s %+.2f", m.attributes[order[i]].c_str(), x.effect.delta_p[order[i]]);
      label += b;
    }
    spec.row_labels.push_back(label);
    spec.row_flags.push_back(false);
  }
  spec.scale = 1;
  return encode_png(make_grid(cells, spec, m.range_lo, m.range_hi));
}

std::vector<ResolvedMove> resolve_moves(const Models& m, const EditSpec& spec) {
  const json none;
  const json& disc = m.manifest.is_object() && m.manifest.contains("discovered") ? m.manifest["discovered"] : none;
  std::vector<std::string> methods;  // the methods stored
  for (const char* mth : {"sefa", "ganspace"})
    if (disc.is_object() && disc.contains(mth) && disc[mth].is_object() && disc[mth].contains("directions")) methods.push_back(mth);
  auto known = [&] {
    std::string k;
    for (const auto& mth : methods) k += (k.empty() ? "" : ", ") + mth + "#1.." + mth + "#" + std::to_string(disc[mth]["directions"].size());
    if (m.directions) k += (k.empty() ? "" : ", ") + std::string("boundary#ATTRIBUTE");
    return k.empty() ? std::string("none (run latentedit directions --discover sefa)") : k;
  };
  std::vector<ResolvedMove> out;
  for (const auto& mv : spec.moves) {
    ResolvedMove r;
    r.strength = spec.move_strength(mv);
    const size_t hash = mv.direction.find('#');
    const std::string prefix = hash == std::string::npos ? "" : mv.direction.substr(0, hash);
    const std::string rest = hash == std::string::npos ? "" : mv.direction.substr(hash + 1);
    if (prefix == "boundary") {
      if (!m.directions) throw UsageError("direction " + mv.direction + ": the bundle has no attribute boundaries", Remedy::kFitDirections, m.dir);
      const int c = find_attribute(m.attributes, rest);  // UsageError with a suggestion
      r.method = "boundary", r.index = c + 1, r.label = "boundary#" + m.attributes[c], r.name = "+" + m.attributes[c];
      r.vector = m.directions->normals[c].to(torch::kFloat);
      r.vector = r.vector / r.vector.norm().clamp_min(1e-12);
      out.push_back(r);
      continue;
    }
    const bool bare = !rest.empty() && rest.find_first_not_of("0123456789") == std::string::npos && rest.size() < 6;
    int64_t index = -1;
    if (bare && (prefix == "sefa" || prefix == "ganspace")) r.method = prefix, index = std::stoll(rest);
    else if (bare && prefix.empty() && methods.size() == 1) r.method = methods[0], index = std::stoll(rest);
    else if (bare && prefix.empty() && methods.size() == 2)
      throw UsageError("direction \"" + mv.direction + "\" is ambiguous: both sefa and ganspace are stored; write sefa" + mv.direction +
                       " or ganspace" + mv.direction);
    else if (!bare && hash != std::string::npos && (prefix == "sefa" || prefix == "ganspace")) {
      // "sefa#1 +Black_Hair": a full name within one method
      if (std::find(methods.begin(), methods.end(), prefix) != methods.end())
        for (const auto& d : disc[prefix]["directions"])
          if (d.value("name", "") == "#" + rest) r.method = prefix, index = d.value("index", 0);
    } else
      for (const auto& mth : methods)
        for (const auto& d : disc[mth]["directions"])
          if (d.value("name", "") == mv.direction) {
            if (!r.method.empty())
              throw UsageError("direction \"" + mv.direction + "\" names one of each method; write sefa" + mv.direction + " or ganspace" + mv.direction);
            r.method = mth, index = d.value("index", 0);
          }
    if (r.method.empty() || std::find(methods.begin(), methods.end(), r.method) == methods.end())
      throw UsageError("no discovered direction \"" + mv.direction + "\" in " + (m.dir.empty() ? m.name : m.dir) + "; there are " + known());
    const auto t = std::find_if(m.discovered.begin(), m.discovered.end(), [&](const auto& p) { return p.first == r.method + ".vectors"; });
    if (t == m.discovered.end() || t->second.dim() != 2 || t->second.size(1) != m.z_dim)
      throw ModelError("the bundle's discovered.safetensors holds no " + r.method + ".vectors of width " + std::to_string(m.z_dim) +
                       "; run latentedit directions --discover " + r.method + " again");
    if (index < 1 || index > t->second.size(0))
      throw UsageError("no discovered direction \"" + mv.direction + "\" in " + (m.dir.empty() ? m.name : m.dir) + "; there are " + known());
    r.index = static_cast<int>(index);
    r.label = r.method + "#" + std::to_string(index);
    r.vector = t->second[index - 1].to(torch::kFloat);
    for (const auto& d : disc[r.method]["directions"])
      if (d.value("index", 0) == index) r.record = d, r.name = d.value("name", "#" + std::to_string(index));
    if (r.name.empty()) r.name = "#" + std::to_string(index);
    out.push_back(r);
  }
  return out;
}

torch::Tensor moves_delta(const std::vector<ResolvedMove>& moves, int64_t z_dim) {
  torch::Tensor delta = torch::zeros({z_dim});
  for (const auto& mv : moves) delta += mv.vector * mv.strength;
  return delta;
}

std::vector<Target> edit_targets(const Models& m, const EditSpec& spec) {
  if (spec.moves.empty()) return spec.targets;
  std::vector<int> order;
  std::map<int, double> weight;
  for (const auto& mv : resolve_moves(m, spec)) {
    // "#3 +Male -Wearing_Lipstick": the words after the number that are +/- and an attribute
    size_t from = 0;
    while (from < mv.name.size()) {
      size_t to = mv.name.find(' ', from);
      if (to == std::string::npos) to = mv.name.size();
      const std::string w = mv.name.substr(from, to - from);
      from = to + 1;
      if (w.size() < 2 || (w[0] != '+' && w[0] != '-')) continue;
      const auto it = std::find(m.attributes.begin(), m.attributes.end(), w.substr(1));
      if (it == m.attributes.end()) continue;
      const int c = static_cast<int>(it - m.attributes.begin());
      if (!weight.count(c)) order.push_back(c);
      weight[c] += (w[0] == '+' ? 1.0 : -1.0) * mv.strength;
    }
  }
  std::vector<Target> out;
  for (int c : order)
    if (weight[c] != 0) out.push_back({c, weight[c] > 0 ? Direction::kAdd : Direction::kRemove, std::nullopt});
  return out;
}

EditResult move_along(const Models& m, const torch::Tensor& z0, const torch::Tensor& delta, int steps, const std::vector<int>& record_steps) {
  torch::NoGradGuard ng;
  if (steps < 1) throw UsageError("steps: a move needs at least one step");
  if (z0.dim() != 2 || z0.size(1) != m.z_dim || delta.numel() != m.z_dim)
    throw UsageError("latents must have shape (N, " + std::to_string(m.z_dim) + ")");
  const auto t0 = Clock::now();
  EditResult r;
  r.z_before = z0.clone();
  r.z_after = z0 + delta.reshape({1, -1});
  std::vector<torch::Tensor> logits;
  for (int k = 0; k <= steps; ++k) {
    const torch::Tensor img = generate(m, z0 + delta.reshape({1, -1}) * (static_cast<double>(k) / steps));
    logits.push_back(classify(m.classifier, img));
    if (k == 0 || k == steps || std::find(record_steps.begin(), record_steps.end(), k) != record_steps.end()) r.images[k] = img;
  }
  r.logits = torch::stack(logits);
  r.probs = torch::sigmoid(r.logits);
  r.stopped_at.assign(static_cast<size_t>(z0.size(0)), steps);
  for (int c = 0; c < static_cast<int>(m.attributes.size()); ++c) r.keep.push_back(c);
  r.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  return r;
}

}  // namespace latentedit
