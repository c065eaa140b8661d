#pragma once
// Runtime settings of the objective's components, and weight schedules.
//
// A component (loss term, prior, schedule) is a value: its settings are data
// members, given in C++ (`kl_v<>{.weight = 4}`) or as text (`kl_v.weight=4`,
// dsae-train --set). A component lists them in
//   template <class F> void settings(F&& f) { f("weight", weight); f("schedule", schedule); }
// with members of type double, int, bool or weight_schedule; set_setting() and
// describe_settings() work on any such component.
//
// weight_schedule: the factor a term's weight is multiplied by at a point of
// training, measured in epochs (fractional: epoch + batch / batches):
//   constant                 1
//   linear(start, length)    0 before start, rising linearly to 1 at start + length
//                            (KL annealing / warm-up, Bowman et al. 2016)
//   cyclical(period, ramp)   in each cycle of `period` epochs, rising linearly
//                            from 0 to 1 over the first ramp * period epochs,
//                            then 1 (Fu et al. 2019)
// Text form: "constant", "linear:START:LENGTH" (or "linear:LENGTH", start 0),
// "cyclical:PERIOD:RAMP" (or "cyclical:PERIOD", ramp 0.5).
#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace dsae::objective {

struct weight_schedule {
  enum class shape { constant, linear, cyclical };
  shape kind = shape::constant;
  double start = 0;   // linear: first epoch of the ramp
  double length = 1;  // linear: epochs of the ramp; cyclical: the period
  double ramp = 0.5;  // cyclical: fraction of each period spent rising

  static weight_schedule constant() { return {}; }
  static weight_schedule linear(double length, double start = 0) {
    return checked({shape::linear, start, length, 0.5});
  }
  static weight_schedule cyclical(double period, double ramp = 0.5) {
    return checked({shape::cyclical, 0, period, ramp});
  }

  // The factor at `epochs` of training (>= 0, fractional).
  double factor(double epochs) const {
    switch (kind) {
      case shape::constant: return 1;
      case shape::linear: return std::clamp((epochs - start) / length, 0.0, 1.0);
      case shape::cyclical: {
        const double in_cycle = epochs - length * std::floor(epochs / length);
        return std::min(1.0, in_cycle / (ramp * length));
      }
    }
    return 1;
  }
  bool is_constant() const { return kind == shape::constant; }
  // The text form (parse(describe()) gives the same schedule).
  std::string describe() const {
    char b[96];
    if (kind == shape::linear) std::snprintf(b, sizeof b, "linear:%.17g:%.17g", start, length);
    else if (kind == shape::cyclical) std::snprintf(b, sizeof b, "cyclical:%.17g:%.17g", length, ramp);
    else return "constant";
    return b;
  }
  static weight_schedule parse(std::string_view text);
  friend bool operator==(const weight_schedule&, const weight_schedule&) = default;

 private:
  static weight_schedule checked(weight_schedule s) {
    if (!std::isfinite(s.start) || s.start < 0)
      throw std::invalid_argument("weight schedule: start must be a finite number >= 0 (epochs)");
    if (!std::isfinite(s.length) || s.length <= 0)
      throw std::invalid_argument("weight schedule: length/period must be a finite number > 0 (epochs)");
    if (!std::isfinite(s.ramp) || s.ramp <= 0 || s.ramp > 1)
      throw std::invalid_argument("weight schedule: ramp must be in (0, 1]");
    return s;
  }
};

// c.settings(f) lists the settings (f is called with a name and a member).
struct setting_probe {
  template <class M>
  void operator()(const char*, M&) const {}
};
template <class C>
concept has_settings = requires(C& c) { c.settings(setting_probe{}); };

namespace setting_text {

// A whole decimal number or nothing ("4", "0.5", "1e-3"; not "4x", "", "nan").
inline double parse_real(std::string_view text, const std::string& what) {
  const std::string t(text);
  char* end = nullptr;
  errno = 0;
  const double v = t.empty() ? 0.0 : std::strtod(t.c_str(), &end);
  if (t.empty() || end != t.c_str() + t.size() || errno == ERANGE || !std::isfinite(v) ||
      t.find_first_of("xXpP") != std::string::npos || std::isspace(static_cast<unsigned char>(t[0])))
    throw std::invalid_argument(what + ": '" + t + "' is not a finite decimal number");
  return v;
}

inline std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> parts;
  for (std::size_t from = 0;;) {
    const auto at = s.find(sep, from);
    parts.push_back(s.substr(from, at == std::string_view::npos ? std::string_view::npos : at - from));
    if (at == std::string_view::npos) return parts;
    from = at + 1;
  }
}

inline std::string format_real(double v) {
  char b[32];
  std::snprintf(b, sizeof b, "%.17g", v);
  // The shortest form that reads back to the same double (4, 0.5, 0.10000000000000001 -> 0.1).
  for (int p = 1; p <= 17; ++p) {
    char s[32];
    std::snprintf(s, sizeof s, "%.*g", p, v);
    if (std::strtod(s, nullptr) == v) return s;
  }
  return b;
}

// The entries of `now` ("k=v,k=v") that differ from `defaults`, except key `skip`, as
// "[k=v,...]" ("" when none).
inline std::string changed(const std::string& now, const std::string& defaults, std::string_view skip) {
  if (now.empty()) return "";
  const auto a = split(now, ','), b = split(defaults, ',');
  std::string out;
  for (size_t k = 0; k < a.size(); ++k) {
    const auto key = a[k].substr(0, a[k].find('='));
    if (key == skip || (k < b.size() && a[k] == b[k])) continue;
    out += (out.empty() ? "" : ",") + std::string(a[k]);
  }
  return out.empty() ? "" : "[" + out + "]";
}

}  // namespace setting_text

inline weight_schedule weight_schedule::parse(std::string_view text) {
  const auto parts = setting_text::split(text, ':');
  const std::string what = "weight schedule '" + std::string(text) + "'";
  auto num = [&](std::size_t k) { return setting_text::parse_real(parts[k], what); };
  if (parts[0] == "constant" && parts.size() == 1) return {};
  if (parts[0] == "linear" && parts.size() == 2) return linear(num(1));
  if (parts[0] == "linear" && parts.size() == 3) return linear(num(2), num(1));
  if (parts[0] == "cyclical" && parts.size() == 2) return cyclical(num(1));
  if (parts[0] == "cyclical" && parts.size() == 3) return cyclical(num(1), num(2));
  throw std::invalid_argument(what + ": expected constant, linear:[START:]LENGTH or cyclical:PERIOD[:RAMP]");
}

// Sets the setting `key` of component c from text; false when c has no such setting.
// Throws std::invalid_argument (naming key) when the text does not parse.
template <class C>
bool set_setting(C& c, std::string_view key, std::string_view text) {
  bool found = false;
  if constexpr (has_settings<C>) {
    c.settings([&](const char* name, auto& member) {
      if (found || key != name) return;
      found = true;
      using M = std::remove_cvref_t<decltype(member)>;
      const std::string what = "setting '" + std::string(key) + "'";
      if constexpr (std::is_same_v<M, weight_schedule>) {
        member = weight_schedule::parse(text);
      } else if constexpr (std::is_same_v<M, bool>) {
        if (text == "true" || text == "1") member = true;
        else if (text == "false" || text == "0") member = false;
        else throw std::invalid_argument(what + ": '" + std::string(text) + "' is not true or false");
      } else if constexpr (std::is_integral_v<M>) {
        const double v = setting_text::parse_real(text, what);
        if (v != std::floor(v) || v < -1e9 || v > 1e9)
          throw std::invalid_argument(what + ": '" + std::string(text) + "' is not a whole number");
        member = M(v);
      } else {
        static_assert(std::is_floating_point_v<M>, "settings: members are double, int, bool or weight_schedule");
        member = M(setting_text::parse_real(text, what));
      }
    });
  }
  return found;
}

// "key=value,key=value" of every setting (values in their text form); "" when none.
template <class C>
std::string describe_settings(C& c) {
  std::string s;
  if constexpr (has_settings<C>) {
    c.settings([&](const char* name, auto& member) {
      using M = std::remove_cvref_t<decltype(member)>;
      std::string v;
      if constexpr (std::is_same_v<M, weight_schedule>) v = member.describe();
      else if constexpr (std::is_same_v<M, bool>) v = member ? "true" : "false";
      else if constexpr (std::is_integral_v<M>) v = std::to_string(member);
      else v = setting_text::format_real(double(member));
      s += (s.empty() ? "" : ",") + std::string(name) + "=" + v;
    });
  }
  return s;
}

// The names of a component's settings, comma-separated (for error messages).
template <class C>
std::string setting_names(C& c) {
  std::string s;
  if constexpr (has_settings<C>)
    c.settings([&](const char* name, auto&) { s += (s.empty() ? "" : ", ") + std::string(name); });
  return s.empty() ? "none" : s;
}

// One "component.key=value" assignment, split (throws on a malformed one).
struct setting_assignment {
  std::string component, key, value;
  static setting_assignment parse(std::string_view text) {
    const auto eq = text.find('=');
    const auto dot = text.substr(0, eq).find('.');
    if (eq == std::string_view::npos || dot == std::string_view::npos || dot == 0 || dot + 1 >= eq)
      throw std::invalid_argument("setting '" + std::string(text) +
                                  "': expected COMPONENT.KEY=VALUE (e.g. kl_v.weight=4)");
    return {std::string(text.substr(0, dot)), std::string(text.substr(dot + 1, eq - dot - 1)),
            std::string(text.substr(eq + 1))};
  }
  std::string text() const { return component + "." + key + "=" + value; }
};

}  // namespace dsae::objective
