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
#include <string.h>

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

/* The next 8 bytes as the bits of a double: any NaN payload, subnormal, Inf. */
static inline double
get_f64_bits(Reader *r)
{
	uint8_t		b[8];
	double		v;
	int			i;

	for (i = 0; i < 8; i++)
		b[i] = get_u8(r);
	memcpy(&v, b, sizeof v);
	return v;
}

#endif							/* NTK_FUZZ_READER_H */
