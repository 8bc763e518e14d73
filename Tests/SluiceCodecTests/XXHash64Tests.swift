import Testing

@testable import SluiceCodec

/// Placement must agree between processes, versions and machines, so the hash is pinned to the
/// reference implementation. Expected values come from the `xxhash` Python package (libxxhash).
@Suite struct XXHash64Tests {
    @Test("reference vectors, seed 0", arguments: [
        ("", 0xEF46_DB37_51D8_E999 as UInt64),
        ("a", 0xD24E_C4F1_A98C_6E5B),
        ("abc", 0x44BC_2CF5_AD77_0999),
        ("message digest", 0x066E_D728_FCEE_B3BE),
        ("abcdefghijklmnopqrstuvwxyz", 0xCFE1_F278_FA89_835C),
        ("The quick brown fox jumps over the lazy dog", 0x0B24_2D36_1FDA_71BC),
    ])
    func referenceVectors(input: String, expected: UInt64) {
        #expect(XXHash64.hash(input) == expected)
        #expect(XXHash64.hash(Array(input.utf8)) == expected)
    }

    @Test("reference vectors, seed 1")
    func seeded() {
        #expect(XXHash64.hash("", seed: 1) == 0xD5AF_BA13_36A3_BE4B)
        #expect(XXHash64.hash("abc", seed: 1) == 0xBEA9_CA81_9932_8908)
        #expect(XXHash64.hash("The quick brown fox jumps over the lazy dog", seed: 1) == 0xDF50_91B6_DAD2_C6DB)
        // The token positions of a node are xxh64(name, seed: i).
        #expect(XXHash64.hash("store-a", seed: 7) == 0x646A_7A3C_C1EC_3DA8)
    }

    /// 100 bytes runs the 32-byte stripes three times and then every tail path: 8, 4 and 1 bytes.
    @Test("every stripe and tail path")
    func allPaths() {
        let bytes = (0..<100).map { UInt8($0) }
        #expect(XXHash64.hash(bytes) == 0x6AC1_E580_3216_6597)
        #expect(XXHash64.hash(bytes, seed: 1) == 0x3D19_A3A2_098A_7023)
    }

    /// The loads are unaligned: the same bytes at an odd offset hash the same.
    @Test("unaligned input")
    func unaligned() {
        let padded: [UInt8] = [0xAA] + Array("The quick brown fox jumps over the lazy dog".utf8)
        padded.withUnsafeBytes { raw in
            #expect(XXHash64.hash(UnsafeRawBufferPointer(rebasing: raw[1...])) == 0x0B24_2D36_1FDA_71BC)
        }
    }
}
