// The method registry (model/registry.hpp): one list of methods, dispatch by name to the
// variant types, clear errors for unknown names, the JSON the drivers read.
#include <boost/test/unit_test.hpp>

#include <dsae/model/registry.hpp>

#include <set>
#include <string>
#include <type_traits>

namespace dm = dsae::model;

BOOST_AUTO_TEST_SUITE(registry)

BOOST_AUTO_TEST_CASE(the_paper_methods_in_order_with_labels) {
  std::vector<std::string> names;
  for (const auto& m : dm::method_infos) names.emplace_back(m.name);
  BOOST_TEST(names == (std::vector<std::string>{"dsae", "dsae-f", "ts-dsae-noreg", "ts-dsae"}),
             boost::test_tools::per_element());
  BOOST_TEST(std::string(dm::method_infos[3].label) == "TS-DSAE");
  BOOST_TEST(!dm::method_infos[0].two_stage);
  BOOST_TEST(dm::method_infos[1].two_stage);
  BOOST_TEST(dm::method_infos[3].two_stage);
  BOOST_TEST(dm::is_method("ts-dsae"));
  BOOST_TEST(!dm::is_method("ts_dsae"));
}

BOOST_AUTO_TEST_CASE(dispatch_picks_the_variant_type) {
  using B = dsae::cpu<float>;
  auto name_of = [](auto m, auto q, auto d) {
    return dm::with_variant<B>(m, q, d, []<class Model>() { return Model().variant_name(); });
  };
  BOOST_TEST(name_of("dsae", "factorised", "factorised") == dm::dsae<B>().variant_name());
  BOOST_TEST(name_of("ts-dsae", "full", "factorised") == dm::ts_dsae_full<B>().variant_name());
  BOOST_TEST(name_of("dsae-f", "factorised", "richer") == dm::dsae_f_rich<B>().variant_name());
  BOOST_TEST(name_of("ts-dsae-noreg", "full", "richer") ==
             (dm::variant<B, dm::full_local_encoder, dm::richer_decoder, dm::method::ts_dsae_noreg>().variant_name()));
  // Each of the 16 combinations reaches a distinct type.
  std::set<std::string> seen;
  for (const auto& m : dm::method_infos)
    for (auto q : dm::local_encoder_names)
      for (auto d : dm::decoder_names) seen.insert(name_of(m.name, q, d));
  BOOST_TEST(seen.size() == 16u);
  // A callable returning void works too.
  int calls = 0;
  dm::with_variant<B>("dsae", "factorised", "factorised", [&]<class Model>() { ++calls; });
  BOOST_TEST(calls == 1);
}

BOOST_AUTO_TEST_CASE(unknown_names_list_the_choices) {
  auto error_of = [](auto m, auto q, auto d) -> std::string {
    try {
      dm::with_variant<dsae::cpu<float>>(m, q, d, []<class Model>() {});
    } catch (const std::invalid_argument& e) {
      return e.what();
    }
    return "";
  };
  BOOST_TEST(error_of("vae", "factorised", "factorised").find("unknown method 'vae' (one of: dsae, dsae-f, "
                                                              "ts-dsae-noreg, ts-dsae)") != std::string::npos);
  BOOST_TEST(error_of("dsae", "diag", "factorised").find("unknown local posterior q 'diag'") != std::string::npos);
  BOOST_TEST(error_of("dsae", "full", "lstm").find("unknown decoder 'lstm' (one of: factorised, richer)") !=
             std::string::npos);
}

BOOST_AUTO_TEST_CASE(json_lists_everything) {
  const std::string j = dm::methods_json();
  BOOST_TEST(j.find("{\"name\": \"ts-dsae-noreg\", \"label\": \"TS-DSAE w/o regs\", \"two_stage\": true") !=
             std::string::npos, j);
  BOOST_TEST(j.find("\"q\": [\"factorised\", \"full\"]") != std::string::npos, j);
  BOOST_TEST(j.find("\"decoder\": [\"factorised\", \"richer\"]") != std::string::npos, j);
}

BOOST_AUTO_TEST_SUITE_END()
