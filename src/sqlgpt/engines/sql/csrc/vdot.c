/* sqlgpt's vector kernel for DuckDB: vdot(FLOAT[], FLOAT[]) -> FLOAT, the dot product of two
 * float32 lists, as list_dot_product computes it but with 32 running sums instead of one.
 *
 * list_dot_product adds every product into one float, so each addition waits for the one
 * before it: about one multiply-add per nanosecond. Here the products go into 32 independent
 * sums (element i into sum i % 32), which a compiler turns into vector instructions without
 * -ffast-math, since the C source itself fixes the order of every addition; the sums are then
 * added pairwise. The result is a float32 sum of the same products in another order: equal to
 * list_dot_product's within float32 rounding.
 *
 * Built by sqlgpt (engines/sql/kernel.py) on first use with the system's C compiler, against
 * DuckDB's stable C extension API, version v1.2.0 (which DuckDB 1.2 through 2.0 load), from the
 * headers in duckdb/ (from the duckdb sdist, MIT: duckdb/LICENSE). Loaded only on sqlgpt's own
 * connections. What it does with its inputs:
 *   - a NULL list gives NULL, as list_dot_product does;
 *   - a NULL element in a list, or two lists of different lengths, is an error saying so;
 *   - empty lists give 0.
 */

#define DUCKDB_EXTENSION_NAME sqlgpt_vdot /* the file is sqlgpt_vdot.duckdb_extension: DuckDB calls
                                             the entry point named after it, sqlgpt_vdot_init_c_api */
#define DUCKDB_EXTENSION_API_VERSION_MAJOR 1
#define DUCKDB_EXTENSION_API_VERSION_MINOR 2
#define DUCKDB_EXTENSION_API_VERSION_PATCH 0
#include "duckdb/duckdb_extension.h"

DUCKDB_EXTENSION_EXTERN /* the API's table of functions, filled in by the entry point below */

#define LANES 32 /* running sums: 8 SSE registers of 4 floats, 4 AVX registers of 8, 2 of AVX-512's 16 */

/* On x86-64 Linux the same loop is also compiled for AVX2 and AVX-512, and the widest the
 * processor has is chosen when the file loads (GCC's and Clang's function multiversioning).
 * The sums are the C source's at any width, so every build gives the same bits; wider
 * registers matter when both lists are in cache, as in a prompt's many positions against
 * one weight row (measured: 256 x 3072 products of 768, 68 ms SSE2, 55 ms AVX2, 37 ms AVX-512). */
#if defined(__x86_64__) && defined(__linux__) && (defined(__GNUC__) || defined(__clang__))
#define WIDEST_REGISTERS __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define WIDEST_REGISTERS
#endif

WIDEST_REGISTERS static float dot(const float *restrict a, const float *restrict b, idx_t n) {
	float sum[LANES] = {0};
	idx_t i = 0;
	for (; i + LANES <= n; i += LANES) {
		for (int k = 0; k < LANES; k++) {
			sum[k] += a[i + k] * b[i + k];
		}
	}
	for (int k = 0; i < n; i++, k++) { /* the tail, fewer than LANES elements */
		sum[k] += a[i] * b[i];
	}
	for (int width = LANES / 2; width > 0; width /= 2) { /* pairwise: 16 + 16, 8 + 8, ... */
		for (int k = 0; k < width; k++) {
			sum[k] += sum[k + width];
		}
	}
	return sum[0];
}

/* Whether elements start .. start + n - 1 of a list's child vector are all valid (not NULL);
 * `mask` is DuckDB's validity bitmap (one bit per element, 1 = valid), or NULL when all are. */
static bool all_valid(const uint64_t *mask, idx_t start, idx_t n) {
	if (!mask) {
		return true;
	}
	idx_t i = start, end = start + n;
	for (; i < end && (i & 63); i++) {
		if (!((mask[i >> 6] >> (i & 63)) & 1)) {
			return false;
		}
	}
	for (; i + 64 <= end; i += 64) {
		if (mask[i >> 6] != ~(uint64_t)0) {
			return false;
		}
	}
	for (; i < end; i++) {
		if (!((mask[i >> 6] >> (i & 63)) & 1)) {
			return false;
		}
	}
	return true;
}

/* `text`, then the decimal digits of `n`, at `out`; returns the end. (No stdio: the file needs
 * only the compiler's own headers, so a compiler without the C library's headers builds it.) */
static char *append(char *out, const char *text, uint64_t n, bool number) {
	while (*text) {
		*out++ = *text++;
	}
	if (number) {
		char digits[20];
		int count = 0;
		do {
			digits[count++] = (char)('0' + n % 10);
			n /= 10;
		} while (n);
		while (count) {
			*out++ = digits[--count];
		}
	}
	*out = 0;
	return out;
}

static void vdot_rows(duckdb_function_info info, duckdb_data_chunk input, duckdb_vector output) {
	/* DuckDB hands a C scalar function its arguments flattened: a list entry per row. */
	idx_t rows = duckdb_data_chunk_get_size(input);
	duckdb_vector left = duckdb_data_chunk_get_vector(input, 0);
	duckdb_vector right = duckdb_data_chunk_get_vector(input, 1);
	const duckdb_list_entry *left_lists = (const duckdb_list_entry *)duckdb_vector_get_data(left);
	const duckdb_list_entry *right_lists = (const duckdb_list_entry *)duckdb_vector_get_data(right);
	uint64_t *left_valid = duckdb_vector_get_validity(left);
	uint64_t *right_valid = duckdb_vector_get_validity(right);
	duckdb_vector left_child = duckdb_list_vector_get_child(left);
	duckdb_vector right_child = duckdb_list_vector_get_child(right);
	const float *left_floats = (const float *)duckdb_vector_get_data(left_child);
	const float *right_floats = (const float *)duckdb_vector_get_data(right_child);
	const uint64_t *left_elements_valid = duckdb_vector_get_validity(left_child);
	const uint64_t *right_elements_valid = duckdb_vector_get_validity(right_child);
	float *result = (float *)duckdb_vector_get_data(output);
	char message[128];

	for (idx_t row = 0; row < rows; row++) {
		if ((left_valid && !duckdb_validity_row_is_valid(left_valid, row)) ||
		    (right_valid && !duckdb_validity_row_is_valid(right_valid, row))) {
			duckdb_vector_ensure_validity_writable(output);
			duckdb_validity_set_row_invalid(duckdb_vector_get_validity(output), row);
			continue;
		}
		duckdb_list_entry a = left_lists[row], b = right_lists[row];
		if (a.length != b.length) {
			char *end = append(message, "vdot: the two vectors' lengths differ (", a.length, true);
			end = append(end, " and ", b.length, true);
			append(end, ")", 0, false);
			duckdb_scalar_function_set_error(info, message);
			return;
		}
		if (!all_valid(left_elements_valid, a.offset, a.length) ||
		    !all_valid(right_elements_valid, b.offset, b.length)) {
			bool left_ok = all_valid(left_elements_valid, a.offset, a.length);
			duckdb_scalar_function_set_error(info, left_ok ? "vdot: the right vector holds a NULL element"
			                                               : "vdot: the left vector holds a NULL element");
			return;
		}
		result[row] = dot(left_floats + a.offset, right_floats + b.offset, a.length);
	}
}

DUCKDB_EXTENSION_ENTRYPOINT(duckdb_connection connection, duckdb_extension_info info,
                            struct duckdb_extension_access *access) {
	/* One overload, FLOAT[] x FLOAT[]: a FLOAT[N] one beside it makes FLOAT[] calls ambiguous
	 * (DuckDB 2.0.1), and FLOAT[N] arguments are cast to FLOAT[] anyway. */
	duckdb_logical_type element = duckdb_create_logical_type(DUCKDB_TYPE_FLOAT);
	duckdb_logical_type list = duckdb_create_list_type(element);
	duckdb_scalar_function function = duckdb_create_scalar_function();
	duckdb_scalar_function_set_name(function, "vdot");
	duckdb_scalar_function_add_parameter(function, list);
	duckdb_scalar_function_add_parameter(function, list);
	duckdb_scalar_function_set_return_type(function, element);
	duckdb_scalar_function_set_function(function, vdot_rows);
	duckdb_state state = duckdb_register_scalar_function(connection, function);
	duckdb_destroy_scalar_function(&function);
	duckdb_destroy_logical_type(&list);
	duckdb_destroy_logical_type(&element);
	if (state != DuckDBSuccess) {
		access->set_error(info, "sqlgpt_vdot: could not register vdot");
		return false;
	}
	return true;
}
