// Components as values: weights and schedules from C++ and from text, the variant name
// recording them, refusals naming the component and the setting.
#include <boost/test/unit_test.hpp>
#include "common/node_op_terms.hpp"
#include "model/common.hpp"

using namespace dsae;
using namespace dsae::test;
using objective::weight_schedule;

namespace {
bool throws_with(const std::function<void()>& f, const std::string& part) {
  try {
    f();
  } catch (const std::exception& e) {
    if (std::string(e.what()).find(part) != std::string::npos) return true;
    BOOST_TEST_MESSAGE("message was: " << e.what());
    return false;
  }
  return false;
}
}  // namespace

BOOST_AUTO_TEST_SUITE(settings)

BOOST_AUTO_TEST_CASE(schedule_factors) {
  const auto lin = weight_schedule::linear(10, 2);
  BOOST_TEST(lin.factor(0) == 0.0);
  BOOST_TEST(lin.factor(2) == 0.0);
  BOOST_TEST(lin.factor(7) == 0.5);
  BOOST_TEST(lin.factor(12) == 1.0);
  BOOST_TEST(lin.factor(100) == 1.0);
  const auto cyc = weight_schedule::cyclical(4, 0.5);  // rises over 2 epochs, holds 2
  BOOST_TEST(cyc.factor(0) == 0.0);
  BOOST_TEST(cyc.factor(1) == 0.5);
  BOOST_TEST(cyc.factor(3) == 1.0);
  BOOST_TEST(cyc.factor(4) == 0.0);
  BOOST_TEST(cyc.factor(5) == 0.5);
  BOOST_TEST(weight_schedule{}.factor(0) == 1.0);
  for (const auto& s : {lin, cyc, weight_schedule{}}) BOOST_TEST((weight_schedule::parse(s.describe()) == s));
  BOOST_TEST((weight_schedule::parse("linear:10") == weight_schedule::linear(10)));
  BOOST_TEST((weight_schedule::parse("cyclical:8") == weight_schedule::cyclical(8, 0.5)));
  for (const char* bad : {"linear", "linear:0", "linear:-1", "linear:nan", "linear:1x", "cyclical:4:0", "cyclical:4:1.5",
                          "sigmoid:3", "linear:1:2:3", ""})
    BOOST_TEST(throws_with([&] { weight_schedule::parse(bad); }, "weight schedule"), bad);
}

BOOST_AUTO_TEST_CASE(weight_given_in_cpp_and_as_text) {
  auto b = random_batch(4, {4, 2, 3}, 3, 11);
  model::dsae<B> plain(tiny_sizes(), 3);
  model::dsae<B> beta(tiny_sizes(), 3, objective::kl_v<>{.weight = 4});
  model::dsae<B> text(tiny_sizes(), 3, std::vector<std::string>{"kl_v.weight=4"});
  const auto l0 = plain.evaluate(b, 1, 1), l1 = beta.evaluate(b, 1, 1), l2 = text.evaluate(b, 1, 1);
  BOOST_TEST(l1.kl_v == l0.kl_v);  // same parameters, same noise: only the weight differs
  BOOST_TEST(l1.loss == l1.recon + l1.kl_z + 4 * l1.kl_v, boost::test_tools::tolerance(1e-12));
  BOOST_TEST(l2.loss == l1.loss);
  BOOST_TEST(beta.variant_name() == text.variant_name());
  BOOST_TEST(beta.variant_name().find("kl_v*4") != std::string::npos, beta.variant_name());
  BOOST_TEST(plain.variant_name().find("kl_v*1") != std::string::npos);
  BOOST_TEST(beta.component<objective::kl_v<>>().weight == 4.0);
  // The gradient carries the weight: a beta model's gradient check passes too.
  expect_report(testing::check_model(beta, b, 5, 9));
}

BOOST_AUTO_TEST_CASE(schedule_follows_progress) {
  auto b = random_batch(4, {4, 2, 3}, 3, 11);
  model::dsae<B> m(tiny_sizes(), 3, std::vector<std::string>{"kl_v.schedule=linear:4", "kl_v.weight=2"});
  BOOST_TEST(m.variant_name().find("kl_v*2[schedule=linear:0:4]") != std::string::npos, m.variant_name());
  for (double epochs : {0.0, 1.0, 2.5, 4.0, 9.0}) {
    m.set_progress(epochs);
    const auto l = m.evaluate(b, 1, 1);
    const double w = 2 * std::min(1.0, epochs / 4);
    BOOST_TEST(l.loss == l.recon + l.kl_z + w * l.kl_v, boost::test_tools::tolerance(1e-12));
  }
  // A gradient check part-way through the warm-up.
  m.set_progress(1.0);
  expect_report(testing::check_model(m, b, 5, 9));
  // set() after construction changes a weight; the name follows.
  m.set("recon.weight=0.5");
  BOOST_TEST(m.variant_name().find("recon*0.5") != std::string::npos, m.variant_name());
}

BOOST_AUTO_TEST_CASE(swap_and_schedule_settings_on_ts_dsae) {
  model::ts_dsae<B> m(tiny_sizes(), 3, std::vector<std::string>{"swap_global.weight=2", "swap_local.weight=0.25"});
  BOOST_TEST(m.variant_name().find("swap_global*2+swap_local*0.25") != std::string::npos, m.variant_name());
  m.set_stage(2);
  auto b = random_batch(4, {4, 2, 3}, 3, 11);
  const auto l = m.evaluate(b, 1, 1);
  BOOST_TEST(l.loss == l.recon + l.kl_z + l.kl_v + 2 * (l.swap[0] + l.swap[1]) + 0.25 * (l.swap[2] + l.swap[3]),
             boost::test_tools::tolerance(1e-12));
}

BOOST_AUTO_TEST_CASE(refusals_name_the_problem) {
  using M = model::dsae<B>;
  auto make = [](std::vector<std::string> s) { M m(tiny_sizes(), 3, s); };
  BOOST_TEST(throws_with([&] { make({"kl_q.weight=4"}); }, "no component 'kl_q'"));
  BOOST_TEST(throws_with([&] { make({"kl_q.weight=4"}); }, "recon, kl_z, kl_v"));
  BOOST_TEST(throws_with([&] { make({"kl_v.beta=4"}); }, "kl_v has no setting 'beta' (its settings: weight, schedule)"));
  BOOST_TEST(throws_with([&] { make({"kl_v.weight=four"}); }, "not a finite decimal number"));
  BOOST_TEST(throws_with([&] { make({"kl_v.weight"}); }, "expected COMPONENT.KEY=VALUE"));
  BOOST_TEST(throws_with([&] { make({"prior_v.components=3"}); }, "prior_v has no setting 'components' (its settings: none)"));
  // A setting that shapes parameters is refused after construction, accepted at it.
  mixture_prior_dsae<B> mix(tiny_sizes(), 3, std::vector<std::string>{"prior_v.components=3"});
  BOOST_TEST(mix.params().info(mix.params().find("prior_v.means")).rows == 3);
  BOOST_TEST(mix.variant_name().find("mixture_normal[components=3]") != std::string::npos, mix.variant_name());
  BOOST_TEST(throws_with([&] { mix.set("prior_v.components=5"); }, "shapes parameters"));
}

BOOST_AUTO_TEST_SUITE_END()
