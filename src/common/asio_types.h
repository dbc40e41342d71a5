// The concrete Asio types of the data plane. Every worker and the control thread run an
// io_context, so coroutines, sockets and timers are typed with io_context's own executor rather
// than the type-erased any_io_executor: no type-erased dispatch per operation.
#pragma once

#include <chrono>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/basic_socket_acceptor.hpp>
#include <boost/asio/basic_stream_socket.hpp>
#include <boost/asio/basic_waitable_timer.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace turnpike {

using Executor = boost::asio::io_context::executor_type;
template <class T = void>
using Awaitable = boost::asio::awaitable<T, Executor>;
using TcpSocket = boost::asio::basic_stream_socket<boost::asio::ip::tcp, Executor>;
using TcpAcceptor = boost::asio::basic_socket_acceptor<boost::asio::ip::tcp, Executor>;
using SteadyTimer = boost::asio::basic_waitable_timer<
    std::chrono::steady_clock, boost::asio::wait_traits<std::chrono::steady_clock>, Executor>;
inline constexpr boost::asio::use_awaitable_t<Executor> use_task{};

}  // namespace turnpike
