#include "provider/constraints.h"

#include <gtest/gtest.h>

namespace turnpike::provider {
namespace {

TEST(Constraints, Table) {
  std::map<std::string, std::string> labels{{"env", "prod"}, {"team", "core"}};
  struct Case {
    const char* expr;
    bool want;
  } cases[] = {
      {"", true},
      {"Label(`env`, `prod`)", true},
      {"Label(`env`, `dev`)", false},
      {"!Label(`env`, `dev`)", true},
      {"Label(`env`,`prod`) && Label(`team`,`core`)", true},
      {"Label(`env`,`dev`) || Label(`team`,`core`)", true},
      {"Label(`env`,`dev`) || Label(`team`,`x`) && Label(`env`,`prod`)", false},
      {"(Label(`env`,`dev`) || Label(`team`,`core`)) && Label(`env`,`prod`)", true},
      {"LabelRegex(`env`, `^pr`)", true},
      {"LabelRegex(`missing`, `.*`)", false},
      {"Tag(`team`)", true},
      {"TagRegex(`^te`)", true},
      {"Label(\"env\", \"prod\")", true},
  };
  for (const auto& c : cases) {
    auto parsed = Constraints::parse(c.expr);
    ASSERT_TRUE(parsed) << c.expr << ": " << parsed.error().message;
    EXPECT_EQ(parsed->matches(labels), c.want) << c.expr;
  }
}

TEST(Constraints, Errors) {
  for (const char* bad : {"Label(`a`)", "Nope(`a`)", "Label(`a`,`b`", "Label(`a`,`b`) &&",
                          "LabelRegex(`a`, `(`)", "Label(a, b)", "Label(`a`,`b`) x"}) {
    auto parsed = Constraints::parse(bad);
    EXPECT_FALSE(parsed) << bad;
  }
}

} // namespace
} // namespace turnpike::provider
