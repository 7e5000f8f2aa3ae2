//go:build amd64 && !purego

#include "textflag.h"

// Constants of the gating kernel (float32 bit patterns).
DATA gateconst<>+0(SB)/4, $0x3fb8aa3b  // log2(e)
DATA gateconst<>+4(SB)/4, $0x3f318000  // ln2 high part
DATA gateconst<>+8(SB)/4, $0xb95e8083  // ln2 low part
DATA gateconst<>+12(SB)/4, $0x3f800000 // 1
DATA gateconst<>+16(SB)/4, $0x3f000000 // 1/2
DATA gateconst<>+20(SB)/4, $0x3e2aaaab // 1/6
DATA gateconst<>+24(SB)/4, $0x3d2aaaab // 1/24
DATA gateconst<>+28(SB)/4, $0x3c088889 // 1/120
DATA gateconst<>+32(SB)/4, $0x3ab60b61 // 1/720
DATA gateconst<>+36(SB)/4, $0x3fcc422a // 2·sqrt(2/pi)
DATA gateconst<>+40(SB)/4, $0x3d372713 // 0.044715
DATA gateconst<>+44(SB)/4, $0x80000000 // sign bit
GLOBL gateconst<>(SB), RODATA|NOPTR, $48

// func gateAVX512(gp, up, yp *float32, n int, gelu bool)
// y = g·sigmoid(a)·u with a = g (SiLU) or a = 2·sqrt(2/pi)·(g + 0.044715g³)
// (GELU, tanh form: 0.5·g·(1+tanh(z)) = g·sigmoid(2z)). exp(-a) by
// Cody-Waite reduction, a degree-6 polynomial and VSCALEFPS (which
// saturates to 0/inf instead of overflowing). n is a multiple of 16.
TEXT ·gateAVX512(SB), NOSPLIT, $0-33
	MOVQ gp+0(FP), SI
	MOVQ up+8(FP), DX
	MOVQ yp+16(FP), DI
	MOVQ n+24(FP), CX
	MOVBLZX gelu+32(FP), AX
	VBROADCASTSS gateconst<>+0(SB), Z16
	VBROADCASTSS gateconst<>+4(SB), Z17
	VBROADCASTSS gateconst<>+8(SB), Z18
	VBROADCASTSS gateconst<>+12(SB), Z19
	VBROADCASTSS gateconst<>+16(SB), Z20
	VBROADCASTSS gateconst<>+20(SB), Z21
	VBROADCASTSS gateconst<>+24(SB), Z22
	VBROADCASTSS gateconst<>+28(SB), Z23
	VBROADCASTSS gateconst<>+32(SB), Z24
	VBROADCASTSS gateconst<>+36(SB), Z25
	VBROADCASTSS gateconst<>+40(SB), Z26
	VBROADCASTSS gateconst<>+44(SB), Z27
gateloop:
	CMPQ CX, $16
	JL   gatedone
	VMOVUPS (SI), Z0
	VMOVAPS Z0, Z1
	TESTQ AX, AX
	JZ    gatesilu
	VMULPS Z0, Z0, Z1
	VMULPS Z26, Z1, Z1
	VFMADD213PS Z0, Z0, Z1
	VMULPS Z25, Z1, Z1
gatesilu:
	// Z2 = -a; k = round(-a·log2e); r = -a - k·ln2
	VXORPS Z27, Z1, Z2
	VMULPS Z16, Z2, Z3
	VRNDSCALEPS $0, Z3, Z3
	VFNMADD231PS Z17, Z3, Z2
	VFNMADD231PS Z18, Z3, Z2
	// p = e^r
	VMOVAPS Z24, Z4
	VFMADD213PS Z23, Z2, Z4
	VFMADD213PS Z22, Z2, Z4
	VFMADD213PS Z21, Z2, Z4
	VFMADD213PS Z20, Z2, Z4
	VFMADD213PS Z19, Z2, Z4
	VFMADD213PS Z19, Z2, Z4
	VSCALEFPS Z3, Z4, Z4
	VADDPS Z19, Z4, Z4
	VMULPS (DX), Z0, Z0
	VDIVPS Z4, Z0, Z0
	VMOVUPS Z0, (DI)
	ADDQ $64, SI
	ADDQ $64, DX
	ADDQ $64, DI
	SUBQ $16, CX
	JMP  gateloop
gatedone:
	VZEROUPPER
	RET
