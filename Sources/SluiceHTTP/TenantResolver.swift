import HTTPTypes
import Hummingbird

/// Reads and checks the tenant of a request: the same headers and rules on insert and select.
public struct TenantResolver: Sendable {
    let headers: [HTTPField.Name]
    let defaultTenant: String

    public init(headerNames: [String], defaultTenant: String) {
        self.headers = headerNames.compactMap { HTTPField.Name($0) }
        self.defaultTenant = defaultTenant
    }

    /// The tenant, or a 400 for one that is not a safe name (Mimir's rule: at most 150 of
    /// `[A-Za-z0-9!._*'()-]`, and not `.` or `..`).
    public func tenant(of request: Request) throws(HTTPFailure) -> String {
        for header in headers {
            if let value = request.headers[header] {
                guard Self.isValid(value) else {
                    throw HTTPFailure(.badRequest, "invalid tenant in \(header.rawName): must be 1-150 of A-Z a-z 0-9 ! - _ . * ' ( )")
                }
                return value
            }
        }
        return defaultTenant
    }

    public static func isValid(_ tenant: String) -> Bool {
        guard !tenant.isEmpty, tenant.utf8.count <= 150, tenant != ".", tenant != ".." else { return false }
        return tenant.utf8.allSatisfy { byte in
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                 UInt8(ascii: "0")...UInt8(ascii: "9"):
                true
            default:
                "!-_.*'()".utf8.contains(byte)
            }
        }
    }
}
