// The authentication headers of RFC 8120 §3-4, in two layers:
//  * http_auth_grammar.h: the generic RFC 7235/7615/5987 grammar;
//  * mutual_messages.h: the Mutual messages of RFC 8120 §4.
// Code that needs both includes this header.
#ifndef MUTUAL_HEADER_H
#define MUTUAL_HEADER_H

#include "http_auth_grammar.h"
#include "mutual_messages.h"

#endif
