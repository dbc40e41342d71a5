#pragma once
// The small expression language of Traefik's circuitBreaker `expression` and buffering's
// `retryExpression` (vulcand/predicate, a subset of Go expressions):
//
//   NetworkErrorRatio() > 0.5 || ResponseCodeRatio(500, 600, 0, 600) > 0.25
//   IsNetworkError() && Attempts() < 2
//
// Function calls, numbers, comparisons (> >= < <= == !=), && || !, and parentheses. Function
// arguments are numbers, or for functions that take text (jwt's claims: Equals(`grp`, `admin`))
// strings in backquotes or double quotes. Which functions exist, and how many arguments each takes,
// is the caller's table; the values come from the caller at evaluation time. A function used
// without a comparison must be boolean (IsNetworkError()); a comparison's operands must be numeric.
//
// Parsed once on the control thread; immutable, evaluated from any thread.

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace turnpike::middleware {

class Predicate {
public:
  struct Function {
    std::string_view name;  // "NetworkErrorRatio"
    int arity = 0;          // -1: one or more
    bool boolean = false;   // returns a truth value (else a number)
    bool text_args = false; // its arguments are strings (else numbers)
  };
  struct Arg {
    double number = 0;
    std::string text;
  };
  // The value of function `index` (into the table given to parse) called with `args`.
  using Resolve = std::function<double(size_t index, std::span<const Arg> args)>;

  static Result<Predicate> parse(std::string_view text, std::span<const Function> functions);

  bool eval(const Resolve& resolve) const;
  // Whether function `index` appears in the expression (what needs measuring).
  bool uses(size_t index) const;

private:
  enum class Op { kNumber, kCall, kNot, kAnd, kOr, kGt, kGe, kLt, kLe, kEq, kNe };
  struct Node {
    Op op = Op::kNumber;
    double number = 0;         // kNumber
    size_t function = 0;       // kCall
    std::vector<Arg> args;     // kCall
    int left = -1, right = -1; // operands (kNot uses left)
  };
  class Parser;
  double value(int node, const Resolve& resolve) const;

  std::vector<Node> nodes_;
  int root_ = -1;
};

} // namespace turnpike::middleware
