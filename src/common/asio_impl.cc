// The one translation unit that compiles Asio's implementation (BOOST_ASIO_SEPARATE_COMPILATION),
// including its OpenSSL stream support.
#include <boost/asio/impl/src.hpp>
#include <boost/asio/ssl/impl/src.hpp>
