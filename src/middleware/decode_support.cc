#include "middleware/decode_support.h"

#include <fstream>
#include <map>

#include "common/strings.h"
#include "middleware/local_reply.h"

namespace turnpike::middleware {

std::string item_key(std::string_view key, size_t index) {
  return std::string(key) + "[" + std::to_string(index) + "]";
}

std::shared_ptr<const GoRegex> compile_regex(config::Decoder& dec, std::string_view key,
                                             std::string_view pattern) {
  auto re = GoRegex::compile(pattern);
  if (!re) {
    dec.fail(key, re.error().message);
    return nullptr;
  }
  return std::make_shared<const GoRegex>(std::move(*re));
}

std::optional<RegexReplacement> decode_regex_replacement(config::Decoder& dec) {
  std::string pattern, replacement;
  dec.get("regex", pattern);
  dec.get("replacement", replacement);
  std::shared_ptr<const GoRegex> regex;
  if (pattern.empty())
    dec.fail("regex", "is required");
  else
    regex = compile_regex(dec, "regex", pattern);
  if (replacement.empty()) dec.fail("replacement", "is required");
  if (!regex || replacement.empty()) return std::nullopt;
  return RegexReplacement{regex, regex->compile_template(replacement)};
}

void for_each_user_line(config::Decoder& dec, const std::vector<std::string>& users,
                        const std::string& users_file,
                        const std::function<void(const std::string& key, const std::string& where,
                                                 std::string_view line)>& add) {
  if (!users_file.empty()) {
    std::ifstream in(users_file);
    if (!in) {
      dec.fail("usersFile", "cannot read \"" + users_file + "\"");
    } else {
      std::string raw;
      int line_no = 0;
      while (std::getline(in, raw)) {
        ++line_no;
        if (!raw.empty() && raw.back() == '\r')
          raw.pop_back();
        const std::string_view line = trim(raw);
        if (line.empty() || line.front() == '#')
          continue;
        add("usersFile", users_file + " line " + std::to_string(line_no) + ": ", line);
      }
    }
  }
  for (size_t i = 0; i < users.size(); ++i)
    add(item_key("users", i), "", trim(users[i]));
}

bool is_realm(std::string_view realm) {
  for (unsigned char c : realm)
    if (c < 0x20 || c == 0x7f || c == '"' || c == '\\')
      return false;
  return true;
}

AuthCommonOptions decode_auth_common(config::Decoder& dec) {
  AuthCommonOptions o;
  dec.get("users", o.users);
  dec.get("usersFile", o.users_file);
  dec.get("realm", o.realm);
  dec.get("headerField", o.header_field);
  dec.get("removeHeader", o.remove_header);
  dec.finish();
  if (o.realm.empty()) o.realm = "traefik";
  if (!is_realm(o.realm)) dec.fail("realm", "must not contain quotes, backslashes or controls");
  if (!o.header_field.empty() && !is_header_name(o.header_field))
    dec.fail("headerField", "invalid header name \"" + o.header_field + "\"");
  return o;
}

std::vector<std::pair<std::string, std::string>> decode_header_fields(config::Decoder& dec,
                                                                      std::string_view key,
                                                                      bool values_may_be_empty) {
  std::map<std::string, std::string> raw;
  dec.get(key, raw);
  std::vector<std::pair<std::string, std::string>> out;
  for (auto& [name, value] : raw) {
    if (!is_header_name(name))
      dec.fail(std::string(key) + "." + name, "invalid header name");
    else if (!is_header_value(value))
      dec.fail(std::string(key) + "." + name, "invalid header value (control characters)");
    else if (!values_may_be_empty && value.empty())
      dec.fail(std::string(key) + "." + name, "cannot be empty");
    out.emplace_back(name, value);
  }
  return out;
}

void check_header_names(config::Decoder& dec, std::string_view key,
                        const std::vector<std::string>& names) {
  for (size_t i = 0; i < names.size(); ++i)
    if (!is_header_name(names[i]))
      dec.fail(item_key(key, i), "invalid header name");
}

}  // namespace turnpike::middleware
