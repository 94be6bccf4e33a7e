// One owning pointer for every C library handle, after BoringSSL's
// BORINGSSL_MAKE_DELETER (include/openssl/base.h): each C type names its
// free function once, with MUTUAL_MAKE_DELETER, and code says UniquePtr<T>
// instead of writing a deleter struct per file. Types whose handles may hold
// secrets also get a clearing deleter (MUTUAL_MAKE_CLEARING_DELETER) used
// through SecretPtr<T>, which wipes before freeing.
//
// This header includes no library: the deleters live beside the library's
// headers (openssl_ptr.h for OpenSSL; APR and curl handles get their own
// small header in the code that uses them).
#ifndef MUTUAL_UNIQUE_HANDLE_H
#define MUTUAL_UNIQUE_HANDLE_H

#include <memory>

namespace mutual {
namespace internal {

template <typename T>
struct Deleter;  // defined for each handle type by MUTUAL_MAKE_DELETER

template <typename T>
struct ClearingDeleter;  // defined by MUTUAL_MAKE_CLEARING_DELETER

}  // namespace internal

// An owning pointer freeing with the type's free function.
template <typename T>
using UniquePtr = std::unique_ptr<T, internal::Deleter<T>>;

// An owning pointer wiping the value before freeing it (BN_clear_free,
// EC_POINT_clear_free, ...): for handles that hold secrets.
template <typename T>
using SecretPtr = std::unique_ptr<T, internal::ClearingDeleter<T>>;

}  // namespace mutual

// Both macros are used at namespace scope outside any namespace.
#define MUTUAL_MAKE_DELETER(type, free_function)                             \
    namespace mutual {                                                      \
    namespace internal {                                                    \
    template <>                                                             \
    struct Deleter<type> {                                                  \
        void operator()(type* p) const noexcept { free_function(p); }      \
    };                                                                      \
    }                                                                       \
    }

#define MUTUAL_MAKE_CLEARING_DELETER(type, clear_free_function)              \
    namespace mutual {                                                      \
    namespace internal {                                                    \
    template <>                                                             \
    struct ClearingDeleter<type> {                                          \
        void operator()(type* p) const noexcept { clear_free_function(p); } \
    };                                                                      \
    }                                                                       \
    }

#endif
