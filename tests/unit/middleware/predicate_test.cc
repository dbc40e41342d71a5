#include <gtest/gtest.h>

#include <array>

#include "middleware/predicate.h"

namespace turnpike::middleware {
namespace {

constexpr std::array<Predicate::Function, 4> kFns{{
    {"NetworkErrorRatio", 0, false},
    {"ResponseCodeRatio", 4, false},
    {"LatencyAtQuantileMS", 1, false},
    {"IsNetworkError", 0, true},
}};

struct Values {
  double network = 0, codes = 0, latency = 0;
  bool is_network = false;
  std::vector<double> last_args;
};

bool eval(std::string_view text, Values& v) {
  auto p = Predicate::parse(text, kFns);
  EXPECT_TRUE(p) << text << ": " << (p ? "" : p.error().message);
  if (!p)
    return false;
  return p->eval([&](size_t fn, std::span<const Predicate::Arg> args) {
    v.last_args.clear();
    for (const auto& a : args)
      v.last_args.push_back(a.number);
    switch (fn) {
    case 0:
      return v.network;
    case 1:
      return v.codes;
    case 2:
      return v.latency;
    default:
      return v.is_network ? 1.0 : 0.0;
    }
  });
}

TEST(Predicate, EvaluatesComparisonsAndLogic) {
  Values v;
  v.network = 0.6;
  v.codes = 0.1;
  v.latency = 120;
  EXPECT_TRUE(eval("NetworkErrorRatio() > 0.5", v));
  EXPECT_FALSE(eval("NetworkErrorRatio() > 0.5 && ResponseCodeRatio(500, 600, 0, 600) > 0.25", v));
  EXPECT_EQ(v.last_args, (std::vector<double>{500, 600, 0, 600}));
  EXPECT_TRUE(eval("NetworkErrorRatio() < 0.1 || LatencyAtQuantileMS(50.0) >= 120", v));
  EXPECT_EQ(v.last_args, std::vector<double>{50.0});
  EXPECT_TRUE(eval("!(NetworkErrorRatio() <= 0.5) && (LatencyAtQuantileMS(99) != 1)", v));
  EXPECT_FALSE(eval("IsNetworkError()", v));
  v.is_network = true;
  EXPECT_TRUE(eval("IsNetworkError() && NetworkErrorRatio() == 0.6", v));
  // && binds tighter than ||.
  EXPECT_TRUE(eval("IsNetworkError() || NetworkErrorRatio() > 1 && IsNetworkError()", v));
}

TEST(Predicate, ReportsWhatItUses) {
  auto p = Predicate::parse("LatencyAtQuantileMS(50) > 10", kFns);
  ASSERT_TRUE(p);
  EXPECT_TRUE(p->uses(2));
  EXPECT_FALSE(p->uses(0));
}

TEST(Predicate, TextArgumentsAndVariadicFunctions) {
  constexpr std::array<Predicate::Function, 2> fns{
      {{"Equals", 2, true, true}, {"OneOf", -1, true, true}}};
  auto p = Predicate::parse("Equals(`grp`, \"admin\") && !OneOf(`role`, `a`, `b`)", fns);
  ASSERT_TRUE(p) << p.error().message;
  std::vector<std::string> seen;
  EXPECT_TRUE(p->eval([&](size_t fn, std::span<const Predicate::Arg> args) -> double {
    for (const auto& a : args)
      seen.push_back(a.text);
    return fn == 0;
  }));
  EXPECT_EQ(seen, (std::vector<std::string>{"grp", "admin", "role", "a", "b"}));
  EXPECT_FALSE(Predicate::parse("Equals(`grp`)", fns));
  EXPECT_FALSE(Predicate::parse("OneOf()", fns));
  EXPECT_FALSE(Predicate::parse("Equals(1, 2)", fns));
  EXPECT_FALSE(Predicate::parse("Equals(`a, `b`)", fns));
}

TEST(Predicate, RejectsBadExpressions) {
  for (std::string_view bad : {"", "NetworkErrorRatio()", "Foo() > 1", "NetworkErrorRatio(1) > 0",
                               "ResponseCodeRatio(500, 600) > 0", "NetworkErrorRatio() >",
                               "IsNetworkError() > 1", "(IsNetworkError()", "1 && IsNetworkError()",
                               "IsNetworkError() junk", "LatencyAtQuantileMS(x) > 1"}) {
    EXPECT_FALSE(Predicate::parse(bad, kFns)) << bad;
  }
}

} // namespace
} // namespace turnpike::middleware
