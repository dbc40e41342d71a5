#pragma once
// Decoding helpers shared by the middleware factories. Control thread only.

#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/tree/decoder.h"
#include "middleware/go_regex.h"

namespace turnpike::middleware {

// Tells whether decoding added errors since construction. A factory cannot use Decoder::ok(): the
// error list it appends to may already hold other objects' errors.
class ErrorMark {
 public:
  explicit ErrorMark(config::Decoder& dec) : dec_(dec), before_(dec.errors().list().size()) {}
  bool clean() const { return dec_.errors().list().size() == before_; }

 private:
  config::Decoder& dec_;
  size_t before_;
};

// "prefixes[2]": the key under which an error about one list item is reported.
std::string item_key(std::string_view key, size_t index);

// Compiles `pattern` (the value of option `key`); on failure reports it at `key` and returns null.
std::shared_ptr<const GoRegex> compile_regex(config::Decoder& dec, std::string_view key,
                                             std::string_view pattern);

// The `regex` + `replacement` option pair of replacePathRegex and redirectRegex, both required.
struct RegexReplacement {
  std::shared_ptr<const GoRegex> regex;
  GoRegex::Template replacement;
};
// Reads both options and compiles them; nullopt (errors reported at the option) when either is
// missing or the regex does not compile.
std::optional<RegexReplacement> decode_regex_replacement(config::Decoder& dec);

// The user lines of basicAuth and digestAuth: `usersFile` (one per line, blank lines and `#`
// comments skipped; read here, on the control thread) then `users`. Calls `add(key, where, line)`
// for each line, `key` being the option to report errors at and `where` a prefix locating the line
// ("users.htpasswd line 3: "). A file that cannot be read is reported at usersFile.
void for_each_user_line(config::Decoder& dec, const std::vector<std::string>& users,
                        const std::string& users_file,
                        const std::function<void(const std::string& key, const std::string& where,
                                                 std::string_view line)>& add);

// A map of header name -> value under `key` (in name order), each name and value checked (errors
// at `key.name`); an empty value is an error unless `values_may_be_empty`.
std::vector<std::pair<std::string, std::string>> decode_header_fields(config::Decoder& dec,
                                                                      std::string_view key,
                                                                      bool values_may_be_empty);
// Reports each entry of `names` (the list under `key`) that is not a header name.
void check_header_names(config::Decoder& dec, std::string_view key,
                        const std::vector<std::string>& names);

// A realm may go into a quoted WWW-Authenticate parameter: no quotes, backslashes or controls.
bool is_realm(std::string_view realm);

// The options basicAuth and digestAuth share. decode_auth_common reads them and ends decoding
// (Decoder::finish), defaults an empty realm to "traefik" and reports a realm or headerField that
// cannot be used; the user lines are left to the caller (for_each_user_line).
struct AuthCommonOptions {
  std::vector<std::string> users;
  std::string users_file;
  std::string realm;
  std::string header_field;
  bool remove_header = false;
};
AuthCommonOptions decode_auth_common(config::Decoder& dec);

}  // namespace turnpike::middleware
