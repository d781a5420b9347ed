//! Rigid transforms as Foxglove wants them: a 4 × 4 homogeneous matrix
//! split into a translation and a unit quaternion.

/// A unit quaternion `[x, y, z, w]`.
pub(crate) type Quaternion = [f64; 4];

/// The translation (last column) and rotation (upper-left 3 × 3) of the
/// row-major homogeneous matrix `m`.
///
/// The rotation is converted with Shepperd's method (the branch on the
/// largest diagonal term keeps it stable for every angle) and normalised,
/// so a matrix with a little numerical drift still gives a unit
/// quaternion; `w ≥ 0` picks one of the two equal quaternions. A 3 × 3 part
/// that is no rotation at all (a scale, a shear) is not detected: it gives
/// *some* unit quaternion. The last row of `m` is not looked at.
pub(crate) fn split_transform(m: &[f64; 16]) -> ([f64; 3], Quaternion) {
    let translation = [m[3], m[7], m[11]];
    let rotation = [[m[0], m[1], m[2]], [m[4], m[5], m[6]], [m[8], m[9], m[10]]];
    (translation, quaternion(&rotation))
}

/// The unit quaternion `[x, y, z, w]` of the rotation matrix `r`
/// (`r[row][column]`).
pub(crate) fn quaternion(r: &[[f64; 3]; 3]) -> Quaternion {
    let trace = r[0][0] + r[1][1] + r[2][2];
    let q = if trace > 0.0 {
        let s = (trace + 1.0).sqrt() * 2.0; // 4w
        [
            (r[2][1] - r[1][2]) / s,
            (r[0][2] - r[2][0]) / s,
            (r[1][0] - r[0][1]) / s,
            s / 4.0,
        ]
    } else if r[0][0] > r[1][1] && r[0][0] > r[2][2] {
        let s = (1.0 + r[0][0] - r[1][1] - r[2][2]).sqrt() * 2.0; // 4x
        [
            s / 4.0,
            (r[0][1] + r[1][0]) / s,
            (r[0][2] + r[2][0]) / s,
            (r[2][1] - r[1][2]) / s,
        ]
    } else if r[1][1] > r[2][2] {
        let s = (1.0 + r[1][1] - r[0][0] - r[2][2]).sqrt() * 2.0; // 4y
        [
            (r[0][1] + r[1][0]) / s,
            s / 4.0,
            (r[1][2] + r[2][1]) / s,
            (r[0][2] - r[2][0]) / s,
        ]
    } else {
        let s = (1.0 + r[2][2] - r[0][0] - r[1][1]).sqrt() * 2.0; // 4z
        [
            (r[0][2] + r[2][0]) / s,
            (r[1][2] + r[2][1]) / s,
            s / 4.0,
            (r[1][0] - r[0][1]) / s,
        ]
    };
    let norm = q.iter().map(|v| v * v).sum::<f64>().sqrt();
    if !(norm.is_finite() && norm > 0.0) {
        return [0.0, 0.0, 0.0, 1.0];
    }
    let sign = if q[3] < 0.0 { -1.0 } else { 1.0 };
    q.map(|v| sign * v / norm)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The rotation matrix of the unit quaternion `[x, y, z, w]`.
    fn matrix(q: Quaternion) -> [[f64; 3]; 3] {
        let [x, y, z, w] = q;
        [
            [
                1.0 - 2.0 * (y * y + z * z),
                2.0 * (x * y - z * w),
                2.0 * (x * z + y * w),
            ],
            [
                2.0 * (x * y + z * w),
                1.0 - 2.0 * (x * x + z * z),
                2.0 * (y * z - x * w),
            ],
            [
                2.0 * (x * z - y * w),
                2.0 * (y * z + x * w),
                1.0 - 2.0 * (x * x + y * y),
            ],
        ]
    }

    fn assert_close(a: Quaternion, b: Quaternion) {
        let close = a.iter().zip(&b).all(|(a, b)| (a - b).abs() < 1e-12);
        assert!(close, "{a:?} != {b:?}");
    }

    fn normalised(q: Quaternion) -> Quaternion {
        let n = q.iter().map(|v| v * v).sum::<f64>().sqrt();
        let sign = if q[3] < 0.0 { -1.0 } else { 1.0 };
        q.map(|v| sign * v / n)
    }

    #[test]
    fn known_rotations() {
        let identity = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]];
        assert_close(quaternion(&identity), [0.0, 0.0, 0.0, 1.0]);
        // 90° about z: x → y.
        let h = std::f64::consts::FRAC_1_SQRT_2;
        let about_z = [[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]];
        assert_close(quaternion(&about_z), [0.0, 0.0, h, h]);
        // 180° about each axis: the trace is -1, the other branches.
        let about_x = [[1.0, 0.0, 0.0], [0.0, -1.0, 0.0], [0.0, 0.0, -1.0]];
        assert_close(quaternion(&about_x), [1.0, 0.0, 0.0, 0.0]);
        let about_y = [[-1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, -1.0]];
        assert_close(quaternion(&about_y), [0.0, 1.0, 0.0, 0.0]);
        let about_z = [[-1.0, 0.0, 0.0], [0.0, -1.0, 0.0], [0.0, 0.0, 1.0]];
        assert_close(quaternion(&about_z), [0.0, 0.0, 1.0, 0.0]);
    }

    #[test]
    fn quaternions_survive_a_round_trip_through_the_matrix() {
        // Rotations in every branch: small and large angles, each axis
        // dominant, and near 180°.
        let cases: [Quaternion; 7] = [
            [0.1, 0.2, 0.3, 0.9],
            [0.9, 0.1, -0.2, 0.1],
            [-0.1, 0.95, 0.2, 0.05],
            [0.2, -0.1, 0.97, -0.02],
            [0.5, 0.5, 0.5, 0.5],
            [0.0, 0.0, 0.0, 1.0],
            [0.7, 0.0, 0.714, 1e-9],
        ];
        for q in cases {
            let q = normalised(q);
            assert_close(quaternion(&matrix(q)), q);
        }
    }

    #[test]
    fn a_transform_splits_into_translation_and_rotation() {
        // 90° about z, then moved by (1, 2, 3).
        #[rustfmt::skip]
        let m = [
            0.0, -1.0, 0.0, 1.0,
            1.0,  0.0, 0.0, 2.0,
            0.0,  0.0, 1.0, 3.0,
            0.0,  0.0, 0.0, 1.0,
        ];
        let (t, q) = split_transform(&m);
        assert_eq!(t, [1.0, 2.0, 3.0]);
        let h = std::f64::consts::FRAC_1_SQRT_2;
        assert_close(q, [0.0, 0.0, h, h]);
    }

    #[test]
    fn a_degenerate_matrix_still_gives_a_unit_quaternion() {
        let q = quaternion(&[[0.0; 3]; 3]);
        assert!((q.iter().map(|v| v * v).sum::<f64>() - 1.0).abs() < 1e-12);
        assert_eq!(quaternion(&[[f64::NAN; 3]; 3]), [0.0, 0.0, 0.0, 1.0]);
    }
}
