// Octet strings and secrets shared by every part of the protocol core.
#ifndef MUTUAL_BYTES_H
#define MUTUAL_BYTES_H

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <openssl/crypto.h>

namespace mutual {

using Bytes = std::vector<std::uint8_t>;

// An allocator that wipes memory with OPENSSL_cleanse before freeing it, so
// passwords, pi, S values and z never linger in freed heap blocks.
template <typename T>
struct CleansingAllocator {
    using value_type = T;
    CleansingAllocator() noexcept = default;
    template <typename U>
    CleansingAllocator(const CleansingAllocator<U>&) noexcept {}
    T* allocate(std::size_t n) { return std::allocator<T>{}.allocate(n); }
    void deallocate(T* p, std::size_t n) noexcept {
        OPENSSL_cleanse(p, n * sizeof(T));
        std::allocator<T>{}.deallocate(p, n);
    }
    template <typename U>
    bool operator==(const CleansingAllocator<U>&) const noexcept { return true; }
    template <typename U>
    bool operator!=(const CleansingAllocator<U>&) const noexcept { return false; }
};

// Secret octets (pi, S_c1, S_s1, z, passwords): wiped on destruction.
using Secret = std::vector<std::uint8_t, CleansingAllocator<std::uint8_t>>;
using SecretString = std::basic_string<char, std::char_traits<char>, CleansingAllocator<char>>;

// A read-only view of octets someone else owns (a Bytes, a Secret, a slot of
// the session table): passed where a copy would only be read.
class ByteView {
public:
    constexpr ByteView() noexcept = default;
    constexpr ByteView(const std::uint8_t* data, std::size_t size) noexcept : data_(data), size_(size) {}
    template <typename Allocator>
    ByteView(const std::vector<std::uint8_t, Allocator>& v) noexcept : data_(v.data()), size_(v.size()) {}
    constexpr const std::uint8_t* data() const noexcept { return data_; }
    constexpr std::size_t size() const noexcept { return size_; }
    constexpr bool empty() const noexcept { return size_ == 0; }
    constexpr const std::uint8_t* begin() const noexcept { return data_; }
    constexpr const std::uint8_t* end() const noexcept { return data_ + size_; }

private:
    const std::uint8_t* data_ = nullptr;
    std::size_t size_ = 0;
};

inline Bytes to_bytes(std::string_view s) { return Bytes(s.begin(), s.end()); }
inline Secret to_secret(std::string_view s) { return Secret(s.begin(), s.end()); }

}  // namespace mutual

#endif
