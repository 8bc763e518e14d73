import SluiceQuery

/// A relabel regex: Go RE2 syntax, fully anchored, with the capture groups that `replace` and
/// `labelmap` expand.
///
/// `GoRegexSyntax` writes every group as non-capturing, since matchers never read captures. Its
/// output has exactly one `(` per group it keeps, in the order of the Go pattern's groups, so the
/// capturing ones are found in the Go pattern and turned back into plain `(` here. Group names stay
/// on this side: `${name}` is resolved to a number before Swift sees it.
struct RelabelRegex: @unchecked Sendable {
    /// Fast paths for plain matching (`keep`, `drop`, `labeldrop`, `labelkeep`), shared with matchers.
    let matcher: ValuePattern
    /// nil for the default `(.*)`, whose single group is the whole value.
    let regex: Regex<AnyRegexOutput>?
    /// The name of each capture group, 1-based as in Go; "" for unnamed ones.
    let groupNames: [String]

    init(_ pattern: String) throws(RelabelError) {
        do {
            matcher = try ValuePattern(regex: pattern)
            if pattern == RelabelConfig.defaultRegex {
                regex = nil
                groupNames = ["", ""]
                return
            }
            let translated = try GoRegexSyntax.translate(pattern)
            let groups = RelabelRegex.groups(of: pattern)
            var rewritten = ""
            var scalars = translated.unicodeScalars[...]
            var groupIndex = 0
            var names = [""]
            while let c = scalars.first {
                if c == "(" {
                    guard groupIndex < groups.count else { throw RelabelRegex.unsupported(pattern) }
                    let group = groups[groupIndex]
                    groupIndex += 1
                    if let name = group {
                        guard scalars.starts(with: "(?:".unicodeScalars) else { throw RelabelRegex.unsupported(pattern) }
                        scalars = scalars.dropFirst(3)
                        rewritten += "("
                        names.append(name)
                        continue
                    }
                }
                rewritten.unicodeScalars.append(c)
                scalars = scalars.dropFirst()
            }
            guard groupIndex == groups.count else { throw RelabelRegex.unsupported(pattern) }
            do {
                regex = try Regex("(?s:" + rewritten + ")")
                    .matchingSemantics(.unicodeScalar)
                    .wordBoundaryKind(.simple)
                    .asciiOnlyWordCharacters()
            } catch {
                throw QueryError(.invalidRegex, "error parsing regexp: \(error): `\(GoRegexSyntax.abbreviated(pattern))`")
            }
            groupNames = names
        } catch let error as QueryError {
            throw RelabelError(.invalidRule, error.message)
        } catch {
            throw RelabelError(.invalidRule, "\(error)")
        }
    }

    private static func unsupported(_ pattern: String) -> QueryError {
        QueryError(.invalidRegex, "error parsing regexp: unsupported group structure: `\(GoRegexSyntax.abbreviated(pattern))`")
    }

    /// For each `(` that `GoRegexSyntax` emits, in order: the capture name ("" when unnamed) if it
    /// captures, nil if not. The pattern has already been accepted by the translator, so this scan
    /// only has to find the groups: escapes, `\Q...\E` and bracketed classes are skipped.
    static func groups(of pattern: String) -> [String?] {
        let s = Array(pattern.unicodeScalars)
        var out: [String?] = []
        var i = 0
        while i < s.count {
            switch s[i] {
            case "\\":
                if i + 1 < s.count, s[i + 1] == "Q" {
                    i += 2
                    while i < s.count, !(s[i] == "\\" && i + 1 < s.count && s[i + 1] == "E") { i += 1 }
                    i += 2
                } else {
                    i += 2
                }
            case "[":
                i += 1
                if i < s.count, s[i] == "^" { i += 1 }
                var first = true
                while i < s.count {
                    if s[i] == "]", !first {
                        i += 1
                        break
                    }
                    first = false
                    if s[i] == "\\" {
                        i += 2
                    } else if s[i] == "[", i + 1 < s.count, s[i + 1] == ":", let end = posixEnd(s, i) {
                        i = end
                    } else {
                        i += 1
                    }
                }
            case "(":
                i += 1
                guard i < s.count, s[i] == "?" else {
                    out.append("")
                    continue
                }
                i += 1
                var prefix = 0
                if i + 1 < s.count, s[i] == "P", s[i + 1] == "<" {
                    prefix = 2
                } else if i + 1 < s.count, s[i] == "<", s[i + 1] != "=", s[i + 1] != "!" {
                    prefix = 1
                }
                if prefix > 0 {
                    i += prefix
                    let start = i
                    while i < s.count, s[i] != ">" { i += 1 }
                    out.append(String(String.UnicodeScalarView(s[start..<min(i, s.count)])))
                    i += 1
                } else {
                    // Flags: `(?flags:` opens a group; `(?flags)` is emitted only when it sets some.
                    let start = i
                    while i < s.count, s[i] != ":", s[i] != ")" { i += 1 }
                    if i < s.count, s[i] == ":" || i > start { out.append(nil) }
                    i += 1
                }
            default:
                i += 1
            }
        }
        return out
    }

    /// The end of `[:name:]` starting at `i`, as the translator finds it: the first `:]` after it.
    private static func posixEnd(_ s: [Unicode.Scalar], _ i: Int) -> Int? {
        var end = i + 2
        while end + 1 < s.count, !(s[end] == ":" && s[end + 1] == "]") { end += 1 }
        return end + 1 < s.count ? end + 2 : nil
    }

    func matches(_ value: String) -> Bool {
        matcher.matches(value)
    }

    /// The whole match and each group (nil when it did not take part), or nil when `value` does not match.
    func captures(_ value: String) -> [Substring?]? {
        guard let regex else { return [value[...], value[...]] }
        // Cannot throw: there are no custom components, and cancellation does not apply here.
        guard let match = try? regex.wholeMatch(in: value) else { return nil }
        return match.output.map { $0.substring }
    }

    /// Go's `Regexp.Expand`: `$1`, `${1}`, `$name`, `${name}` and `$$`. A name is the longest run of
    /// letters, digits and `_`, so `$1x` is the group named "1x"; unknown groups expand to "", and a
    /// `$` not followed by a name is kept as is.
    func expand(_ template: String, _ groups: [Substring?]) -> String {
        guard template.utf8.contains(UInt8(ascii: "$")) else { return template }
        let s = Array(template.unicodeScalars)
        var out = String.UnicodeScalarView()
        var i = 0
        while i < s.count {
            guard s[i] == "$" else {
                out.append(s[i])
                i += 1
                continue
            }
            i += 1
            if i < s.count, s[i] == "$" {
                out.append("$")
                i += 1
                continue
            }
            var j = i
            let braced = j < s.count && s[j] == "{"
            if braced { j += 1 }
            let start = j
            while j < s.count, RelabelRegex.isNameScalar(s[j]) { j += 1 }
            var ok = j > start
            let name = String(String.UnicodeScalarView(s[start..<j]))
            if ok, braced {
                if j < s.count, s[j] == "}" { j += 1 } else { ok = false }
            }
            guard ok else {
                out.append("$")
                continue
            }
            i = j
            if let group = groupIndex(name), group < groups.count, let text = groups[group] {
                out.append(contentsOf: text.unicodeScalars)
            }
        }
        return String(out)
    }

    /// The group a `$` reference names: a number without leading zeros (below 10^8), else a name.
    private func groupIndex(_ name: String) -> Int? {
        let digits = name.utf8.allSatisfy { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }
        if digits, name.utf8.count <= 8, name.utf8.first != UInt8(ascii: "0") || name.utf8.count == 1 {
            return Int(name)
        }
        return groupNames.indices.dropFirst().first { groupNames[$0] == name }
    }

    /// Go's `unicode.IsLetter || unicode.IsDigit || '_'`.
    private static func isNameScalar(_ c: Unicode.Scalar) -> Bool {
        switch c.properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter, .decimalNumber:
            return true
        default:
            return c == "_"
        }
    }

    /// Go's `strings.ToLower`/`ToUpper` map each scalar on its own; a scalar whose full mapping is
    /// longer than one scalar (`ß` → "SS") keeps itself, as Go's simple mapping does.
    static func mapScalars(_ value: String, _ mapping: (Unicode.Scalar) -> String) -> String {
        var out = String.UnicodeScalarView()
        for c in value.unicodeScalars {
            let mapped = mapping(c).unicodeScalars
            if mapped.count == 1 { out.append(contentsOf: mapped) } else { out.append(c) }
        }
        return String(out)
    }
}
