/*-------------------------------------------------------------------------
 *
 * fuzz_reader.h
 *	  The byte reader both libFuzzer harnesses decode their input with.
 *
 * Reading past the end yields zeros, so every input decodes to something and
 * short inputs stay meaningful.
 *
 *-------------------------------------------------------------------------
 */
#ifndef NTK_FUZZ_READER_H
#define NTK_FUZZ_READER_H

#include <stddef.h>
#include <stdint.h>

typedef struct Reader
{
	const uint8_t *p;
	size_t		n;
} Reader;

static inline uint8_t
get_u8(Reader *r)
{
	if (r->n == 0)
		return 0;
	r->n--;
	return *r->p++;
}

#endif							/* NTK_FUZZ_READER_H */
